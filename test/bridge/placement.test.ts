import t from 'tap'
import { LOAD_SCALE, placeShards, placementWeight, type PlacementCandidate } from '../../src/bridge/placement/place.js'

const GiB = 1024 ** 3
const MiB = 1024 ** 2

/** Deterministic PRNG (mulberry32) so the statistics are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const host = (id: string, free: number, load = 0, reputation = 1): PlacementCandidate => ({ id, free, load, reputation })
const shards = (n: number, size = 2 * MiB) => Array.from({ length: n }, (_, i) => ({ hash: i.toString(16).padStart(64, '0'), size }))

t.test('mirrors of a shard are on distinct hosts', async (t) => {
  const hosts = Array.from({ length: 5 }, (_, i) => host(`h${i}`, 100 * GiB))
  const placed = placeShards(shards(2048), hosts, 3, rng(1))
  t.equal(placed.length, 2048)
  for (const p of placed) {
    t.equal(p.hostIds.length, 3)
    if (new Set(p.hostIds).size !== 3) t.fail(`shard ${p.hash} has a repeated host`)
  }
  // Exactly as many hosts as mirrors: every host gets every shard, once.
  const exact = placeShards(shards(50), hosts.slice(0, 3), 3, rng(2))
  for (const p of exact) t.same([...p.hostIds].sort(), ['h0', 'h1', 'h2'])
})

t.test('choice is roughly proportional to free space', async (t) => {
  const hosts = [host('small', 1 * GiB), host('medium', 2 * GiB), host('large', 4 * GiB)]
  const count = new Map<string, number>()
  const random = rng(7)
  // One small shard per call, so the batch's own load does not skew the weights.
  for (let i = 0; i < 7000; i++) {
    const [p] = placeShards(shards(1, 1), hosts, 1, random)
    count.set(p!.hostIds[0]!, (count.get(p!.hostIds[0]!) ?? 0) + 1)
  }
  const share = (id: string) => count.get(id)! / 7000
  t.ok(Math.abs(share('small') - 1 / 7) < 0.03, `small ${share('small')}`)
  t.ok(Math.abs(share('medium') - 2 / 7) < 0.03, `medium ${share('medium')}`)
  t.ok(Math.abs(share('large') - 4 / 7) < 0.03, `large ${share('large')}`)
})

t.test('load and reputation lower the weight', async (t) => {
  t.equal(placementWeight(host('a', GiB, LOAD_SCALE)), placementWeight(host('a', GiB)) / 2)
  t.equal(placementWeight(host('a', GiB, 0, 0.5)), placementWeight(host('a', GiB)) / 2)
  const hosts = [host('idle', 10 * GiB), host('busy', 10 * GiB, 20 * LOAD_SCALE)]
  const placed = placeShards(shards(2000, 1), hosts, 1, rng(3))
  const busy = placed.filter((p) => p.hostIds[0] === 'busy').length
  t.ok(busy < 200, `busy host got ${busy} of 2000`)
})

t.test('a batch spreads: placed bytes count as load within the batch', async (t) => {
  const hosts = Array.from({ length: 6 }, (_, i) => host(`h${i}`, 50 * GiB))
  const placed = placeShards(shards(2048), hosts, 3, rng(11))
  const per = new Map<string, number>()
  for (const p of placed) for (const h of p.hostIds) per.set(h, (per.get(h) ?? 0) + 1)
  for (const [id, n] of per) t.ok(n > 800 && n < 1250, `${id} got ${n} of 6144 mirrors`)
})

t.test('capacity is respected, including what the batch already placed', async (t) => {
  const hosts = [host('tiny', 3 * MiB), host('a', GiB), host('b', GiB), host('c', GiB)]
  const placed = placeShards(shards(100), hosts, 3, rng(5))
  const onTiny = placed.filter((p) => p.hostIds.includes('tiny')).length
  t.ok(onTiny <= 1, `a 3 MiB host holds at most one 2 MiB shard, got ${onTiny}`)
  // A host without room is never eligible.
  const none = placeShards(shards(20), [host('full', MiB), ...hosts.slice(1)], 3, rng(6))
  for (const p of none) t.notOk(p.hostIds.includes('full'))
})

t.test('too few eligible hosts is XC_NOT_ENOUGH_HOSTS with needed and available', async (t) => {
  const hosts = [host('a', GiB), host('b', GiB), host('full', MiB)]
  t.throws(() => placeShards(shards(1), hosts, 3), { code: 'XC_NOT_ENOUGH_HOSTS', details: { needed: 3, available: 2 } })
  t.throws(() => placeShards(shards(1), [], 1), { code: 'XC_NOT_ENOUGH_HOSTS' })
  // Exclusions count too.
  t.throws(() => placeShards([{ ...shards(1)[0]!, exclude: new Set(['a']) }], hosts, 2), { code: 'XC_NOT_ENOUGH_HOSTS' })
  t.same(placeShards([], hosts, 3), [])
})

t.test('excluded hosts are never chosen', async (t) => {
  const hosts = Array.from({ length: 4 }, (_, i) => host(`h${i}`, GiB))
  for (let i = 0; i < 200; i++) {
    const [p] = placeShards([{ hash: 'x', size: 10, exclude: new Set(['h0', 'h2']) }], hosts, 2, rng(i))
    t.same([...p!.hostIds].sort(), ['h1', 'h3'])
  }
})

t.test('placing thousands of shards is fast', async (t) => {
  const hosts = Array.from({ length: 200 }, (_, i) => host(`h${i}`, (1 + (i % 7)) * 100 * GiB))
  const start = performance.now()
  placeShards(shards(2048), hosts, 3)
  const ms = performance.now() - start
  t.ok(ms < 500, `2048 shards × 3 mirrors over 200 hosts took ${ms.toFixed(1)} ms`)
})
