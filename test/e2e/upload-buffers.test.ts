/**
 * Every shard buffer an upload takes from the pool goes back exactly once: after a put, and after
 * a put that fails part-way, apart from the group whose storing failed (stand-ins may still be
 * sending from it). Shards are encrypted in place, so the buffer a read filled is the one that
 * goes to the hosts and back to the pool.
 */
import t from 'tap'
import path from 'node:path'
import { XCloudClient } from '../../src/client/client.js'
import { shardBuffers } from '../../src/client/transfer/buffers.js'
import { XError } from '../../src/shared/errors.js'
import { newUser, randomFile, startNetwork, workdir } from '../helpers/network.js'

const MiB = 1024 * 1024

/** Count what the client's shard pool hands out and takes back, and catch a buffer freed twice. */
function countPool(t: { teardown(fn: () => void): void }): { acquired: () => number; released: () => number; twice: () => number } {
  let acquired = 0
  let released = 0
  let twice = 0
  const pool = shardBuffers as unknown as { free: Buffer[] }
  const acquire = shardBuffers.acquire.bind(shardBuffers)
  const release = shardBuffers.release.bind(shardBuffers)
  shardBuffers.acquire = (length: number) => { acquired++; return acquire(length) }
  shardBuffers.release = (view: Buffer) => {
    released++
    if (pool.free.some((b) => b.buffer === view.buffer)) twice++
    release(view)
  }
  t.teardown(() => { shardBuffers.acquire = acquire; shardBuffers.release = release })
  return { acquired: () => acquired, released: () => released, twice: () => twice }
}

t.test('a put gives back every shard buffer once; a failed one keeps only the failed group', async (t) => {
  const net = await startNetwork(t)
  const user = await newUser(t, net, 'upload-buffers@example.com')
  const dir = workdir(t)
  const file = path.join(dir, 'f.bin')
  await randomFile(file, 40 * MiB + 4321) // 21 shards: four groups of five and one of one
  const client = await XCloudClient.fromHome(user.home)
  t.teardown(() => client.close())

  const ok = countPool(t)
  await client.put(file, '/f.bin')
  t.equal(ok.acquired(), 21, 'one buffer per shard')
  t.equal(ok.released(), 21, 'and each came back')
  t.equal(ok.twice(), 0, 'none twice')

  // The third group's placement fails: the upload stops, the groups stored before it and the one
  // sealed ahead give their buffers back, the failed group keeps its five.
  const failing = countPool(t)
  const place = client.bridge.place.bind(client.bridge)
  let calls = 0
  client.bridge.place = (...args: Parameters<typeof place>) => {
    if (++calls === 3) return Promise.reject(new XError('XC_UNAVAILABLE', 'placement refused by the test'))
    return place(...args)
  }
  await t.rejects(client.put(file, '/g.bin', { groupsInFlight: 1 }), { code: 'XC_UNAVAILABLE' })
  t.equal(failing.twice(), 0, 'no buffer given back twice')
  t.equal(failing.acquired() - failing.released(), 5, `only the failed group's buffers are kept (${failing.acquired()} taken, ${failing.released()} back)`)
})
