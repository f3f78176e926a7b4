/**
 * ShardStore in-process: capacity changes, the mtime rule delete orders rely on (a shard stored
 * again after the cut-off is kept), exact counters, and a touch racing a removal never leaving
 * a shard the caller believes is stored missing.
 */
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ShardStore, scanShards } from '../../src/host/storage/shard-store.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function openStore(t: Test, capacity = 1e6): Promise<{ store: ShardStore; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'xcore-store-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return { store: await ShardStore.open({ shardsDir: join(dir, 'shards'), tmpDir: join(dir, 'tmp'), capacity }), dir }
}

t.test('capacity can change while open; new reservations follow it', async (t) => {
  const { store } = await openStore(t, 1000)
  const r = store.reserve(800)
  store.setCapacity(500)
  t.throws(() => store.reserve(1), { code: 'XC_CAPACITY' }, 'over the new capacity')
  r.release()
  t.doesNotThrow(() => store.reserve(500).release())
  store.setCapacity(2000)
  t.doesNotThrow(() => store.reserve(1500).release())
  t.throws(() => store.setCapacity(-1), { code: 'XC_CONFIG' })
})

t.test('remove honours the cut-off and keeps counters exact', async (t) => {
  const { store, dir } = await openStore(t)
  const a = randomBytes(1000)
  const b = randomBytes(2000)
  await store.put(sha(a), a)
  await store.put(sha(b), b)
  t.same([store.used, store.count], [3000, 2])
  await sleep(20)
  const cut = Date.now()
  await sleep(20)
  t.equal(await store.touch(sha(a)), true, 'stored again after the cut-off')
  t.equal((await store.remove(sha(a), cut)).outcome, 'kept')
  const rb = await store.remove(sha(b), cut)
  t.equal(rb.outcome, 'deleted')
  t.equal((await store.remove(sha(b), cut)).outcome, 'missing')
  await store.syncDirs([rb.dir, rb.dir])
  t.same([store.used, store.count], [1000, 1])
  t.same(await scanShards(join(dir, 'shards')), { used: 1000, count: 1 }, 'counters match the disk')
  t.equal((await store.remove(sha(a))).outcome, 'deleted', 'no cut-off: unconditional')
  t.same([store.used, store.count], [0, 0])
  t.equal(await store.touch(sha(a)), false, 'touching a missing shard says so')
})

t.test('a second put of a held shard moves its mtime forward', async (t) => {
  const { store } = await openStore(t)
  const a = randomBytes(1000)
  await store.put(sha(a), a)
  const before = (await stat(store.pathOf(sha(a)))).mtimeMs
  await sleep(20)
  t.same(await store.put(sha(a), a), { created: false })
  t.ok((await stat(store.pathOf(sha(a)))).mtimeMs > before)
  t.same([store.used, store.count], [1000, 1])
})

t.test('touch and remove of one hash never interleave', async (t) => {
  const { store } = await openStore(t)
  for (let i = 0; i < 20; i++) {
    const a = randomBytes(100)
    await store.put(sha(a), a)
    await sleep(2)
    const cut = Date.now()
    await sleep(2)
    // Whichever runs first, the outcome is consistent: kept after a touch, or gone and reported so.
    const [touched, removed] = await Promise.all([store.touch(sha(a)), store.remove(sha(a), cut)])
    const present = (await store.sizeOf(sha(a))) !== null
    t.equal(present, touched && removed.outcome === 'kept', `round ${i}: touched=${touched} removed=${removed.outcome}`)
    if (present) await store.remove(sha(a))
  }
  t.same([store.used, store.count], [0, 0])
})

t.test('readAll reads a whole shard, null when absent', async (t) => {
  const { store } = await openStore(t)
  const a = randomBytes(300_000)
  await store.put(sha(a), a)
  t.ok((await store.readAll(sha(a)))!.equals(a))
  t.equal(await store.readAll(sha(randomBytes(4))), null)
})
