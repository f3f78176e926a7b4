/**
 * The order a download starts its shards in (soonestFirst): file order unless a shard among the
 * next few can be had clearly sooner, because one of its mirrors is idle while the earlier shards'
 * mirrors are busy. Every shard comes out exactly once.
 */
import t from 'tap'
import { soonestFirst } from '../../src/client/transfer/download.js'

t.test('file order when nothing is known, or everything costs the same', async (t) => {
  t.same([...soonestFirst({ startCost: () => undefined }, [0, 1, 2, 3, 4], 3)], [0, 1, 2, 3, 4])
  t.same([...soonestFirst({ startCost: () => 10 }, [0, 1, 2, 3, 4], 3)], [0, 1, 2, 3, 4])
  t.same([...soonestFirst({ startCost: (i) => 10 + (i % 2) * 0.5 }, [0, 1, 2, 3], 4)], [0, 1, 2, 3], 'a difference under a tenth keeps file order')
})

t.test('a shard whose mirror is idle goes first, but only from within the lookahead', async (t) => {
  // Shards 0-2 are on busy hosts (cost 100), shards 3 and 7 on an idle one (cost 40).
  const cost = (i: number): number => (i === 3 || i === 7 ? 40 : 100)
  const order = [...soonestFirst({ startCost: cost }, [0, 1, 2, 3, 4, 5, 6, 7, 8], 4)]
  // 3 is within the first four; 7 only once 0-2 have started, and then before 4.
  t.same(order, [3, 0, 1, 2, 7, 4, 5, 6, 8], 'cheap shards first, each once it is within the next four')
})

t.test('costs are read when a slot frees, not ahead of time', async (t) => {
  const costs = new Map<number, number>([[0, 50], [1, 50], [2, 50]])
  const gen = soonestFirst({ startCost: (i) => costs.get(i) }, [0, 1, 2], 3)
  t.equal(gen.next().value, 0)
  costs.set(2, 10) // shard 2's mirror just became idle
  t.equal(gen.next().value, 2)
  t.equal(gen.next().value, 1)
  t.equal(gen.next().done, true)
})
