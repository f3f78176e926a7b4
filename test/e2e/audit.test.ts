/**
 * Proof of availability (done-means 2 and 3): a shard overwritten on a host is caught by the next
 * audit, the host's reputation drops and the shard is repaired elsewhere; a host that answers
 * audits without holding the data (it kept only hashes) fails them, is suspended, and loses every
 * shard to repair.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { shardPath } from '../helpers/network.js'
import { startLyingHost } from '../helpers/lying-host.js'
import { HEARTBEAT_MS, fastNetwork, healthy, hostsOf, newUser, putFiles, readsBack, shardsOf, until } from '../helpers/healing.js'

const MiB = 1024 * 1024
const AUDITS = ['--audit-interval', '300ms']

t.test('an overwritten shard fails its audit, costs reputation, and is repaired elsewhere', async (t) => {
  const net = await fastNetwork(t, 5, { bridgeFlags: AUDITS })
  const alice = await newUser(t, net, 'alice@example.com')
  const files = await putFiles(t, alice, [2 * MiB, 1 * MiB])
  const shards = await shardsOf(net)
  const victim = shards[0]!
  const host = net.hosts.find((h) => h.id === victim.hosts[0])!
  // Let some audits pass first, so the drop in reputation is from a good standing.
  const start = await until(async () => (await hostsOf(net)).find((h) => h.id === host.id && h.auditsPassed > 0), 20_000, 'a passed audit')
  await writeFile(shardPath(host.dir, victim.hash), randomBytes(victim.size))

  const after = await until(async () => {
    const h = (await hostsOf(net)).find((x) => x.id === host.id)!
    return h.auditsFailed > 0 && h
  }, 30_000, 'the audit to catch the overwritten shard')
  t.ok(after.reputation < start.reputation, `reputation dropped from ${start.reputation.toFixed(3)} to ${after.reputation.toFixed(3)}`)
  const live = new Set(net.hosts.map((h) => h.id))
  const repaired = await until(async () => {
    const s = (await shardsOf(net)).find((x) => x.hash === victim.hash)!
    return !s.hosts.includes(host.id) && new Set(s.hosts).size === 3 && s
  }, 20_000, 'the shard to be repaired on another host')
  t.ok(repaired.hosts.every((h) => live.has(h)), 'on 3 live hosts, none of them the one that failed')
  t.ok(healthy(await shardsOf(net), live, 3), 'every shard has 3 mirrors')
  t.ok(await readsBack(t, alice, files), 'files read back identical')
})

t.test('a host that keeps only hashes fails audits, is suspended, and its shards move', async (t) => {
  const net = await fastNetwork(t, 6, { bridgeFlags: AUDITS })
  const alice = await newUser(t, net, 'alice@example.com')
  const files = await putFiles(t, alice, [4 * MiB, 2 * MiB + 5])
  const shards = await shardsOf(net)
  const cheat = net.hosts.find((h) => shards.some((s) => s.hosts.includes(h.id)))!
  const url = cheat.url
  await net.stopHost(cheat.index)
  const liar = await startLyingHost(cheat.dir, url, HEARTBEAT_MS)
  t.teardown(() => liar.close())

  const judged = await until(async () => {
    const h = (await hostsOf(net)).find((x) => x.id === cheat.id)!
    return h.state === 'suspended' && h
  }, 30_000, 'the cheating host to be suspended')
  t.ok(liar.audits > 0, `it answered ${liar.audits} audits`)
  t.ok(judged.auditsFailed > 0, `${judged.auditsFailed} audits failed`)
  t.ok(judged.reputation < 0.5, `reputation ${judged.reputation.toFixed(3)}`)
  const others = new Set(net.hosts.filter((h) => h.id !== cheat.id).map((h) => h.id))
  await until(async () => healthy(await shardsOf(net), others, 3), 20_000, 'every shard on 3 honest hosts')
  t.pass('no shard depends on the cheating host')
  t.ok(await readsBack(t, alice, files), 'files read back identical')
})

t.test('a shard a client reports corrupt is audited at once and replaced, with regular audits hours away', async (t) => {
  // --audit-interval stays 1 h: only the client's report can bring the audit forward.
  const net = await fastNetwork(t, 5)
  const alice = await newUser(t, net, 'alice@example.com')
  const files = await putFiles(t, alice, [16 * MiB])
  const shards = await shardsOf(net)
  const bad = net.hosts.find((h) => shards.filter((s) => s.hosts.includes(h.id)).length >= 2)!
  const corrupted = shards.filter((s) => s.hosts.includes(bad.id))
  for (const s of corrupted) await writeFile(shardPath(bad.dir, s.hash), randomBytes(s.size))

  // Reads spread over every mirror, so one of them meets the corrupt copies, falls back to
  // another mirror and reports the host.
  t.ok(await readsBack(t, alice, files), 'the file reads back identical despite the corrupt copies')
  const judged = await until(async () => {
    const h = (await hostsOf(net)).find((x) => x.id === bad.id)!
    if (h.auditsFailed === 0) await readsBack(t, alice, files)
    return h.auditsFailed > 0 && h
  }, 30_000, 'a report to bring an audit that fails')
  t.ok(judged.reputation < 1, `reputation ${judged.reputation.toFixed(3)}`)
  const live = new Set(net.hosts.map((h) => h.id))
  const repaired = await until(async () => {
    const now = await shardsOf(net)
    const reported = now.filter((s) => corrupted.some((c) => c.hash === s.hash) && !s.hosts.includes(bad.id))
    return reported.length > 0 && now.every((s) => new Set(s.hosts).size === 3 && s.hosts.every((h) => live.has(h))) && reported
  }, 20_000, 'the reported shard to be replaced on another host')
  t.ok(repaired.length > 0, `${repaired.length} of ${corrupted.length} corrupt copies replaced`)
  t.ok(await readsBack(t, alice, files), 'files read back identical')
})
