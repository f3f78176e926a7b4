/**
 * The per-host transfer queue: a cancelled transfer rejects at once but keeps its slot until its
 * task has really ended, so cancellations never let more than PER_HOST_CONCURRENCY requests run
 * at one host; late results are handed to `discard`.
 */
import t from 'tap'
import { PER_HOST_CONCURRENCY, closeAgents, queued } from '../../src/client/transfer/host-client.js'

t.teardown(() => closeAgents())

/** A task that runs until released, ignoring any signal (a request slow to notice its abort). */
function stubborn(state: { running: number; peak: number }): { task: () => Promise<string>; release: (v: string) => void } {
  let release!: (v: string) => void
  const done = new Promise<string>((resolve) => { release = resolve })
  return {
    task: async () => {
      state.running++
      state.peak = Math.max(state.peak, state.running)
      try {
        return await done
      } finally {
        state.running--
      }
    },
    release,
  }
}

t.test('a cancelled transfer keeps its slot until its task ends', async (t) => {
  const host = { id: 'q1'.padEnd(64, '0') }
  const state = { running: 0, peak: 0 }
  const first = Array.from({ length: PER_HOST_CONCURRENCY }, () => ({ ac: new AbortController(), ...stubborn(state) }))
  const discarded: string[] = []
  const firstResults = first.map((f) => queued(host, f.ac.signal, f.task, (late) => discarded.push(late)))
  await new Promise((r) => setImmediate(r))
  t.equal(state.running, PER_HOST_CONCURRENCY, 'the first transfers run')
  for (const f of first) f.ac.abort()
  for (const r of firstResults) await t.rejects(r, { code: 'XC_TIMEOUT' }, 'a cancelled transfer rejects at once')

  const second = Array.from({ length: PER_HOST_CONCURRENCY }, () => ({ ac: new AbortController(), ...stubborn(state) }))
  const secondResults = second.map((s, i) => queued(host, s.ac.signal, s.task).then((v) => t.equal(v, `second ${i}`)))
  await new Promise((r) => setTimeout(r, 20))
  t.equal(state.running, PER_HOST_CONCURRENCY, 'new transfers wait while the cancelled ones still run')
  first.forEach((f, i) => f.release(`first ${i}`))
  await new Promise((r) => setTimeout(r, 20))
  t.equal(state.running, PER_HOST_CONCURRENCY, 'then they take the freed slots')
  second.forEach((s, i) => s.release(`second ${i}`))
  await Promise.all(secondResults)
  t.equal(state.peak, PER_HOST_CONCURRENCY, 'never more than the per-host limit at once')
  t.same(discarded.sort(), first.map((_, i) => `first ${i}`).sort(), 'results that came after the cancellation were handed back')
})

t.test('a transfer cancelled while queued never starts', async (t) => {
  const host = { id: 'q2'.padEnd(64, '0') }
  const state = { running: 0, peak: 0 }
  const busy = Array.from({ length: PER_HOST_CONCURRENCY }, () => stubborn(state))
  const busyResults = busy.map((b) => queued(host, undefined, b.task))
  const ac = new AbortController()
  let started = false
  const waiting = queued(host, ac.signal, async () => { started = true; return 'x' })
  ac.abort()
  await t.rejects(waiting, { code: 'XC_TIMEOUT' })
  busy.forEach((b) => b.release('done'))
  await Promise.all(busyResults)
  await new Promise((r) => setImmediate(r))
  t.equal(started, false, 'its task never ran')
})

t.test('a failure of an uncancelled transfer passes through', async (t) => {
  const host = { id: 'q3'.padEnd(64, '0') }
  const ac = new AbortController()
  await t.rejects(queued(host, ac.signal, async () => { throw Object.assign(new Error('boom'), { code: 'XC_HOST_UNREACHABLE' }) }), { code: 'XC_HOST_UNREACHABLE' })
  t.equal(await queued(host, ac.signal, async () => 'fine'), 'fine')
})
