/**
 * The pipeline stages bound memory by construction: these tests count how many items each one
 * has pulled from its source at any moment, and check order, errors and early exits.
 */
import t from 'tap'
import { batch, parallelMap, readAhead } from '../../src/shared/pipeline.js'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A source of 0..n-1 that records how far it has been pulled and whether it was closed. */
function counted(n: number, failAt = -1): { source: AsyncGenerator<number>; pulled: () => number; closed: () => boolean } {
  let pulled = 0
  let closed = false
  const source = (async function* () {
    try {
      for (let i = 0; i < n; i++) {
        await tick()
        if (i === failAt) throw new Error(`source failed at ${i}`)
        pulled = i + 1
        yield i
      }
    } finally {
      closed = true
    }
  })()
  return { source, pulled: () => pulled, closed: () => closed }
}

t.test('parallelMap runs at most `concurrency` at once and pulls only when a slot frees', async (t) => {
  const c = counted(20)
  let running = 0
  let most = 0
  const out: number[] = []
  for await (const r of parallelMap(c.source, 3, async (x) => {
    running++
    most = Math.max(most, running)
    t.ok(c.pulled() - out.length <= 4, 'no more than the slots plus one pulled and not yet done')
    for (let i = 0; i < 6 + (x % 3); i++) await tick()
    running--
    return x * 2
  })) out.push(r)
  t.equal(most, 3)
  t.same(out.sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i * 2))
})

t.test('parallelMap passes a failure on, and closes its source', async (t) => {
  const c = counted(50)
  let settled = 0
  await t.rejects((async () => {
    for await (const _ of parallelMap(c.source, 4, async (x) => {
      await tick()
      settled++
      if (x === 6) throw new Error('item 6 failed')
    })) { /* drained */ }
  })(), /item 6 failed/)
  t.ok(c.closed(), 'the source is closed')
  t.ok(c.pulled() < 50, `it was not drained (${c.pulled()} pulled)`)
  t.equal(settled, c.pulled(), 'every call that started has settled when the failure arrives')
})

t.test('a failing source fails the stage', async (t) => {
  await t.rejects((async () => { for await (const _ of parallelMap(counted(10, 3).source, 2, async (x) => x)) { /* drained */ } })(), /source failed at 3/)
})

t.test('batch groups, with a short last group', async (t) => {
  const groups: number[][] = []
  for await (const g of batch(counted(10).source, 4)) groups.push(g)
  t.same(groups, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
})

t.test('readAhead keeps exactly one item pulled ahead of a slow consumer, in order', async (t) => {
  const c = counted(12)
  const seen: number[] = []
  let most = 0
  for await (const x of readAhead(c.source)) {
    seen.push(x)
    for (let i = 0; i < 20; i++) await tick() // the consumer is slow: the next pull finishes meanwhile
    most = Math.max(most, c.pulled() - seen.length)
  }
  t.same(seen, [...Array(12).keys()], 'every item, in order')
  t.equal(most, 1, 'one item ready ahead, never more')
  t.equal(c.closed(), true)
})

t.test('readAhead hands a source failure to the consumer at that item', async (t) => {
  const c = counted(10, 4)
  const seen: number[] = []
  await t.rejects((async () => {
    for await (const x of readAhead(c.source)) {
      seen.push(x)
      for (let i = 0; i < 5; i++) await tick() // the failing pull happens while this waits
    }
  })(), /source failed at 4/)
  t.same(seen, [0, 1, 2, 3], 'the items before the failure were all consumed')
})

t.test('readAhead closes its source when the consumer stops early, after the pull in flight', async (t) => {
  const c = counted(100)
  const dropped: number[] = []
  for await (const x of readAhead(c.source, (item) => dropped.push(item))) {
    if (x === 2) break
  }
  t.equal(c.closed(), true, 'the source ran its finally')
  t.ok(c.pulled() <= 4, `pulled ${c.pulled()} of 100`)
  t.same(dropped, [3], 'the item pulled ahead and never taken went to drop')
})
