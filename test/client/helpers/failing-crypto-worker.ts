/** A crypto worker that fails on its first job: it exits, or throws when XC_TEST_WORKER_FAILS=throw. */
import { parentPort } from 'node:worker_threads'

parentPort?.on('message', () => {
  if (process.env.XC_TEST_WORKER_FAILS === 'throw') throw new Error('worker broke')
  process.exit(3)
})
