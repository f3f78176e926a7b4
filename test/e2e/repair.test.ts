/**
 * Repair after host failures (issue: a network that heals itself, done-means 1): 8 hosts and
 * 3 mirrors; hosts holding data are killed, and within the repair window every shard is back on
 * 3 live hosts and every file reads back identical; then hosts die one by one down to 3.
 */
import t from 'tap'
import { fastNetwork, healthy, newUser, putFiles, readsBack, shardsOf, until } from '../helpers/healing.js'

const MiB = 1024 * 1024
const REPAIR_WINDOW_MS = 20_000

t.test('kill 2 hosts holding data, then down to 3 hosts: repaired every time, nothing lost', async (t) => {
  const net = await fastNetwork(t, 8)
  const alice = await newUser(t, net, 'alice@example.com')
  const files = await putFiles(t, alice, [5 * MiB, 3 * MiB + 17, 1000, 0])
  const before = await shardsOf(net)
  t.ok(healthy(before, new Set(net.hosts.map((h) => h.id)), 3), 'every shard starts on 3 hosts')

  const live = new Set(net.hosts.map((h) => h.id))
  const holding = net.hosts.filter((h) => before.some((s) => s.hosts.includes(h.id)))
  t.ok(holding.length >= 2, 'at least two hosts hold data')
  for (const h of holding.slice(0, 2)) {
    await net.stopHost(h.index, 'SIGKILL')
    live.delete(h.id)
  }
  const took = Date.now()
  await until(async () => healthy(await shardsOf(net), live, 3), REPAIR_WINDOW_MS, 'every shard back on 3 live hosts')
  t.pass(`repaired within ${Date.now() - took} ms after killing 2 hosts`)
  t.ok(await readsBack(t, alice, files), 'every file reads back identical')

  // One by one down to 3 hosts, waiting for repair each time.
  while (live.size > 3) {
    const shards = await shardsOf(net)
    const victim = net.hosts.find((h) => live.has(h.id) && shards.some((s) => s.hosts.includes(h.id)))!
    await net.stopHost(victim.index, 'SIGKILL')
    live.delete(victim.id)
    await until(async () => healthy(await shardsOf(net), live, 3), REPAIR_WINDOW_MS, `repair with ${live.size} hosts left`)
    t.pass(`repaired with ${live.size} hosts left`)
  }
  const last = await shardsOf(net)
  t.equal(last.length, before.length, 'no shard was lost')
  t.ok(last.every((s) => [...live].every((h) => s.hosts.includes(h))), 'with 3 hosts left, each holds every shard')
  t.ok(await readsBack(t, alice, files), 'every file still reads back identical')
})
