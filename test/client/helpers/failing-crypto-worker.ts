/**
 * A crypto worker that fails on its first job: it exits, or throws when XC_TEST_WORKER_FAILS=throw.
 * With XC_TEST_WORKER_FAILS=once=FILE, only the process's first such worker fails (the one that
 * creates FILE): it says it is ready, notes in FILE that a job came, and exits. The workers after
 * it are the real crypto worker.
 */
import { appendFileSync, closeSync, openSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'

const mode = process.env.XC_TEST_WORKER_FAILS ?? 'exit'

if (mode.startsWith('once=')) {
  const mark = mode.slice('once='.length)
  let first = true
  try {
    closeSync(openSync(mark, 'wx'))
  } catch {
    first = false
  }
  if (first) {
    parentPort?.on('message', () => {
      appendFileSync(mark, 'job\n')
      process.exit(3)
    })
    parentPort?.postMessage({ ready: true })
  } else {
    await import('../../../src/client/transfer/crypto-worker.js')
  }
} else {
  parentPort?.on('message', () => {
    if (mode === 'throw') throw new Error('worker broke')
    process.exit(3)
  })
}
