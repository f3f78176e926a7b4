/**
 * `xbridge admin stats`: the pure aggregation, the stats store contract (run on every store
 * implementation), a cross-check of the repair figures against the repair checker itself, and the
 * real CLI on a populated data folder.
 */
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { networkStats } from '../../src/bridge/admin/admin.js'
import { statsText } from '../../src/bridge/admin/format.js'
import { composeStats, hostTotals, passRate, shardTotals } from '../../src/bridge/admin/stats.js'
import type { ShardHealthRow } from '../../src/bridge/admin/store.js'
import { isAvailable, isCounted } from '../../src/bridge/hosts/health.js'
import type { HostRecord } from '../../src/bridge/hosts/store.js'
import { repairQueue, type ShardView } from '../../src/bridge/repair/priority.js'
import { openSqliteStore, type BridgeStore } from '../../src/bridge/store/sqlite/index.js'
import type { AnnounceRequest } from '../../src/shared/protocol.js'
import { run } from '../helpers/network.js'

const XBRIDGE = fileURLToPath(new URL('../../src/cli/xbridge.js', import.meta.url))
const OFFLINE_AFTER = 2 * 60_000
const HOUR = 3600_000
const SIZE = 4096

/** Every store implementation the contract runs against. */
const STORES: Array<[string, (t: Test) => BridgeStore]> = [
  ['sqlite', (t) => {
    const store = openSqliteStore(path.join(t.testdir(), 'bridge.db'))
    t.teardown(() => store.close())
    return store
  }],
]

function host(over: Partial<HostRecord> = {}): HostRecord {
  const now = Date.now()
  return {
    id: 'a'.repeat(64), publicKey: 'k', url: 'https://127.0.0.1:1', fingerprint: 'F', cert: 'C', capacity: 10e9, used: 1e9, region: 'eu',
    maxUploadRate: null, maxDownloadRate: null, schedule: null, reportedShards: 0, bytesIn: 0, bytesOut: 0, uptimeMs: 0, lastSeen: now,
    successes: 0, failures: 0, auditsPassed: 0, auditsFailed: 0, approved: false, banned: false, exitStartedAt: null, exitedAt: null,
    accruedUntil: null, egressSeen: 0, egressCredit: 0, createdAt: now - 1000, ...over,
  }
}

function announce(capacity = 10e9, used = 1e9, schedule: string | null = null): AnnounceRequest {
  return { publicKey: 'k', url: 'https://127.0.0.1:1', fingerprint: 'F', cert: 'C', capacity, used, region: 'eu', maxUploadRate: null, maxDownloadRate: null, schedule }
}

const id = (c: string): string => c.repeat(64)
const A = id('a'), B = id('b'), C = id('c'), D = id('d'), E = id('e'), F = id('f'), G = id('9')

/**
 * A small network: A, B, C online (A and B approved), D offline (last heartbeat 10 minutes ago),
 * E banned (suspended), F exiting, G exited. Five shards of target 3 with 3, 2, 1, 0 (F only,
 * still a source) and 0 (D only, no source) counted mirrors. Audits: 7 passed (one of them two
 * days ago), 1 failed, 1 inconclusive. Repairs: one copied and one failed in the last day, one
 * older.
 */
function populate(store: BridgeStore, now: number): void {
  for (const h of [A, B, C, E, F]) store.upsertHost(h, announce(), now)
  store.upsertHost(D, announce(), now - 10 * 60_000)
  store.upsertHost(G, announce(), now - 24 * HOUR)
  store.setApproval(A, { approved: true })
  store.setApproval(B, { approved: true })
  store.setApproval(E, { banned: true })
  store.startExit(F, now - HOUR)
  store.startExit(G, now - 48 * HOUR)
  store.markExited(G, now - 24 * HOUR)
  store.addSuccesses(A, 100) // enough that one failed audit does not suspend it

  const createdAt = now - 72 * HOUR
  for (const [userId, email] of [['u1', 'one@example.com'], ['u2', 'two@example.com']] as const) {
    store.insertUser({ id: userId, email, authHash: Buffer.alloc(32), authSalt: Buffer.alloc(16), kdf: { alg: 'scrypt', N: 1024, r: 8, p: 1, salt: 'A'.repeat(22) }, wrappedMasterKey: 'w', createdAt })
  }
  const node = (nodeId: string, parentId: string | null, kind: 'dir' | 'file', size: number, versionId: string | null) => ({
    id: nodeId, parentId, nameHash: nodeId.padEnd(64, '0'), encName: 'e', kind, encMeta: null, versionId, size, revision: 1, mtime: createdAt,
  })
  store.insertNode('u1', node('root1', null, 'dir', 0, null))
  store.insertNode('u1', node('file1', 'root1', 'file', 10_000, 'v1'))
  store.insertNode('u1', node('file2', 'root1', 'file', 5_000, 'v2'))
  const version = (vid: string, nodeId: string, n: number) => ({ id: vid, userId: 'u1', nodeId, size: n * SIZE, wrappedKey: 'k', manifest: 'm', shardCount: n, createdAt })
  const shard = (c: string) => ({ hash: c.repeat(64), size: SIZE })
  store.insertVersion(version('v1', 'file1', 3), [shard('1'), shard('2'), shard('3')], new Map([
    ['3'.repeat(64), [A, B, C]], ['2'.repeat(64), [A, B, D]], ['1'.repeat(64), [A, E, F]],
  ]), 3)
  store.insertVersion(version('v2', 'file2', 2), [shard('4'), shard('5')], new Map([['4'.repeat(64), [F]], ['5'.repeat(64), [D]]]), 3)

  const passes: Array<[string, number]> = [[A, now - 60_000], [A, now - 120_000], [B, now - 60_000], [B, now - 2 * HOUR], [C, now - 60_000], [C, now - 3 * HOUR], [C, now - 48 * HOUR]]
  for (const [h, at] of passes) store.recordAudit(h, '3'.repeat(64), 'pass', null, at)
  store.recordAudit(A, '1'.repeat(64), 'fail', 'missing', now - 30 * 60_000)
  store.recordAudit(B, '2'.repeat(64), 'inconclusive', 'XC_TIMEOUT', now - 20 * 60_000)

  store.recordRepair({ hash: '2'.repeat(64), sourceId: A, targetId: C, size: SIZE, at: now - HOUR, ok: true, error: null })
  store.recordRepair({ hash: '5'.repeat(64), sourceId: D, targetId: C, size: SIZE, at: now - 30 * 60_000, ok: false, error: 'XC_TIMEOUT' })
  store.recordRepair({ hash: '4'.repeat(64), sourceId: F, targetId: B, size: SIZE, at: now - 72 * HOUR, ok: true, error: null })
}

t.test('host totals: states, approval, capacity, counted and source hosts', async (t) => {
  const now = Date.now()
  const tot = hostTotals([
    host({ id: 'on', approved: true }),
    host({ id: 'off', lastSeen: now - OFFLINE_AFTER - 1 }),
    host({ id: 'ban', banned: true }),
    host({ id: 'exiting', exitStartedAt: now }),
    host({ id: 'gone', exitStartedAt: now - 10, exitedAt: now, capacity: 99e9, used: 50e9 }),
  ], now, OFFLINE_AFTER)
  t.same(tot.byState, { online: 1, offline: 1, suspended: 1, exiting: 1, exited: 1 })
  t.equal(tot.hosts, 5)
  t.equal(tot.heartbeating, 4, 'every host but the offline one heartbeats, the exited one too')
  t.same(tot.approval, { approved: 1, pending: 2, banned: 1 }, 'an exited host is not pending')
  t.same(tot.capacity, { offered: 40e9, offeredOnline: 10e9, used: 4e9, usedRatio: 0.1 }, 'an exited host offers nothing')
  t.same(tot.counted, ['on'])
  t.same(tot.sources, ['on', 'ban', 'exiting'], 'suspended and exiting hosts can still hand shards over')
  t.same(hostTotals([], now, OFFLINE_AFTER).capacity.usedRatio, null)
})

t.test('shard totals: under target, at risk, queued, unrepairable', async (t) => {
  const row = (target: number, counted: number, hasSource: boolean, shards: number): ShardHealthRow =>
    ({ target, counted, hasSource, shards, bytes: shards * 10, storedBytes: shards * 10 * target })
  const rows = [row(3, 3, true, 100), row(3, 4, true, 2), row(3, 2, true, 7), row(3, 1, true, 3), row(3, 1, false, 1), row(3, 0, true, 2), row(3, 0, false, 4), row(1, 1, true, 9)]
  t.same(shardTotals(rows, 10), {
    shards: 128, bytes: 1280, storedBytes: 102 * 30 + 7 * 30 + 4 * 30 + 6 * 30 + 90,
    underTarget: 17, atRisk: 10, oneCounted: 4, noneCounted: 6, queued: 12, nextRound: 10, unrepairable: 5,
  })
  t.equal(shardTotals(rows).nextRound, 12, 'without a cap the next round takes the whole queue')
  t.same(shardTotals([]), { shards: 0, bytes: 0, storedBytes: 0, underTarget: 0, atRisk: 0, oneCounted: 0, noneCounted: 0, queued: 0, nextRound: 0, unrepairable: 0 })
})

t.test('pass rate: inconclusive is no evidence, no audits is null', async (t) => {
  t.equal(passRate(7, 1), 0.875)
  t.equal(passRate(0, 0), null)
  t.equal(passRate(0, 3), 0)
})

t.test('an empty network: zeros and nulls, and readable text', async (t) => {
  const s = composeStats({
    at: 1, hosts: hostTotals([], 1, OFFLINE_AFTER), shards: shardTotals([]),
    counts: { users: 0, files: 0, fileBytes: 0, versions: 0, auditsPassed: 0, auditsFailed: 0, lastAuditAt: null, lastRepairAt: null },
    recentAudits: { passed: 0, failed: 0, inconclusive: 0 }, recentRepairs: { ok: 0, failed: 0, bytes: 0 },
  })
  t.match(s, { users: 0, hosts: 0, shards: 0, data: { mirrorFactor: null }, audits: { passRate: null, lastAt: null }, repair: { lastAt: null } })
  const text = statsText(s)
  t.match(text, /^audits\s+pass rate n\/a/m)
  t.match(text, /last attempt never/)
  t.notMatch(text, /NaN|undefined|null/)
})

for (const [name, open] of STORES) {
  t.test(`stats store contract (${name})`, async (t) => {
    t.test('empty', async (t) => {
      const store = open(t)
      t.same(store.statsCounts(), { users: 0, files: 0, fileBytes: 0, versions: 0, auditsPassed: 0, auditsFailed: 0, lastAuditAt: null, lastRepairAt: null })
      t.same(store.shardHealth([], []), [])
    })

    t.test('counts and shard groups for given counted and source hosts', async (t) => {
      const store = open(t)
      const now = Date.now()
      populate(store, now)
      t.same(store.statsCounts(), {
        users: 2, files: 2, fileBytes: 15_000, versions: 2, auditsPassed: 7, auditsFailed: 1, lastAuditAt: now - 60_000, lastRepairAt: now - 30 * 60_000,
      })
      const groups = (counted: string[], sources: string[]) =>
        store.shardHealth(counted, sources).map((r) => `${r.target}/${r.counted}/${r.hasSource ? 's' : '-'}:${r.shards}:${r.bytes}:${r.storedBytes}`)
      t.same(groups([A, B, C], [A, B, C, E, F]), ['3/0/-:1:4096:4096', '3/0/s:1:4096:4096', '3/1/s:1:4096:12288', '3/2/s:1:4096:12288', '3/3/s:1:4096:12288'])
      t.same(groups([], []), ['3/0/-:5:20480:45056'], 'no host counts: one group')
      t.same(groups([A, B, C, D, E, F, G], [D]), ['3/1/-:1:4096:4096', '3/1/s:1:4096:4096', '3/3/-:2:8192:24576', '3/3/s:1:4096:12288'])
      t.same(groups(['0'.repeat(64)], ['0'.repeat(64)]), ['3/0/-:5:20480:45056'], 'an unknown host holds nothing')
    })
  })
}

t.test('network stats on a populated store', async (t) => {
  const store = STORES[0]![1](t)
  const now = Date.now()
  populate(store, now)
  const s = networkStats(store, now, OFFLINE_AFTER, 2)
  t.same(s, {
    users: 2, hosts: 7, hostsOnline: 5, shards: 5, shardsUnderTarget: 4, bytesStored: 11 * SIZE, files: 2, versions: 2,
    at: now,
    hostsByState: { online: 3, offline: 1, suspended: 1, exiting: 1, exited: 1 },
    hostApproval: { approved: 2, pending: 3, banned: 1 },
    capacity: { offered: 60e9, offeredOnline: 30e9, used: 6e9, usedRatio: 0.1 },
    data: { fileBytes: 15_000, shardBytes: 5 * SIZE, storedBytes: 11 * SIZE, mirrorFactor: 2.2 },
    repair: {
      underTarget: 4, atRisk: 3, oneCounted: 1, noneCounted: 2, queued: 3, nextRound: 2, unrepairable: 1,
      last24h: { ok: 1, failed: 1, bytes: SIZE }, lastAt: now - 30 * 60_000,
    },
    audits: {
      passed: 7, failed: 1, passRate: 0.875,
      last24h: { passed: 6, failed: 1, inconclusive: 1, passRate: 6 / 7 }, lastAt: now - 60_000,
    },
  })
  const text = statsText(s)
  t.match(text, /^hosts\s+7 known: 3 online, 1 offline, 1 suspended, 1 exiting, 1 exited$/m)
  t.match(text, /^\s+5 with a recent heartbeat; 2 approved, 3 pending approval, 1 banned$/m)
  t.match(text, /^shards\s+4 under target, 3 at risk \(1 with one counted mirror, 2 with none\)$/m)
  t.match(text, /^repair\s+3 queued \(the next round takes 2\), 1 unrepairable/m)
  t.match(text, /^audits\s+pass rate 87\.5% \(7 passed, 1 failed, all time\)$/m)
  t.match(text, /last 24h: 85\.7% \(6 passed, 1 failed, 1 inconclusive\); last audit 60s ago/)
})

/** A tiny seeded generator, so a failing case can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

t.test('the repair figures agree with the repair checker on random networks', async (t) => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const rnd = prng(seed)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
    const store = STORES[0]![1](t)
    const now = Date.now()
    const hostIds = Array.from({ length: 12 }, (_, i) => (i + 1).toString(16).padStart(64, '0'))
    for (const h of hostIds) {
      store.upsertHost(h, announce(10e9, 1e9, pick([null, null, '00:00-00:01', '00:00-23:59'])), now - pick([0, 0, 0, 10 * 60_000]))
      if (rnd() < 0.15) store.setApproval(h, { banned: true })
      if (rnd() < 0.15) store.startExit(h, now)
      if (rnd() < 0.1) store.markExited(h, now)
      if (rnd() < 0.1) store.recordAudit(h, 'x', 'fail', null, now)
    }
    const holders = [...hostIds, 'ff'.repeat(32)] // one mirror host the bridge no longer knows
    for (let v = 0; v < 40; v++) {
      const hash = v.toString(16).padStart(64, 'c')
      const mirrors = [...new Set(Array.from({ length: Math.floor(rnd() * 5) }, () => pick(holders)))]
      store.insertVersion({ id: `v${v}`, userId: 'u', nodeId: 'n', size: SIZE, wrappedKey: 'k', manifest: 'm', shardCount: 1, createdAt: now },
        [{ hash, size: SIZE }], new Map([[hash, mirrors]]), pick([1, 2, 3, 4]))
    }
    const byId = new Map(store.allHosts().map((h) => [h.id, h]))
    // The views exactly as the repairer builds them (repair/repairer.ts).
    const views: ShardView[] = store.shardsWithMirrors().map((s) => ({
      hash: s.hash, size: s.size, target: s.target,
      mirrors: s.hosts.map((hostId) => {
        const h = byId.get(hostId)
        return { hostId, counted: !!h && isCounted(h, now, OFFLINE_AFTER), source: !!h && isAvailable(h, now, OFFLINE_AFTER) }
      }),
    }))
    const { needs, unrepairable } = repairQueue(views)
    const counted = (v: ShardView) => v.mirrors.filter((m) => m.counted).length
    const under = views.filter((v) => counted(v) < v.target)
    const s = networkStats(store, now, OFFLINE_AFTER, 5)
    t.match(s.repair, {
      queued: needs.length, unrepairable, underTarget: needs.length + unrepairable, nextRound: Math.min(5, needs.length),
      oneCounted: under.filter((v) => counted(v) === 1).length, noneCounted: under.filter((v) => counted(v) === 0).length,
    }, `seed ${seed}`)
    t.equal(s.shardsUnderTarget, under.length, `seed ${seed}`)
  }
})

t.test('the real CLI on a populated data folder', async (t) => {
  const dir = path.join(t.testdir(), 'bridge')
  mkdirSync(dir)
  const now = Date.now()
  const store = openSqliteStore(path.join(dir, 'bridge.db'))
  populate(store, now)
  store.close()
  const admin = (...args: string[]) => run(XBRIDGE, ['admin', '--data', dir, ...args])

  const json = await admin('stats', '--json')
  t.equal(json.code, 0, json.stderr)
  const s = JSON.parse(json.stdout)
  t.match(s, {
    users: 2, hosts: 7, hostsOnline: 5, shards: 5, shardsUnderTarget: 4, bytesStored: 11 * SIZE, files: 2, versions: 2,
    hostsByState: { online: 3, offline: 1, suspended: 1, exiting: 1, exited: 1 },
    hostApproval: { approved: 2, pending: 3, banned: 1 },
    capacity: { offered: 60e9, offeredOnline: 30e9, used: 6e9, usedRatio: 0.1 },
    data: { fileBytes: 15_000, shardBytes: 5 * SIZE, storedBytes: 11 * SIZE, mirrorFactor: 2.2 },
    repair: { underTarget: 4, atRisk: 3, oneCounted: 1, noneCounted: 2, queued: 3, nextRound: 3, unrepairable: 1, last24h: { ok: 1, failed: 1, bytes: SIZE } },
    audits: { passed: 7, failed: 1, passRate: 0.875, last24h: { passed: 6, failed: 1, inconclusive: 1 } },
  })
  t.ok(Math.abs(s.at - Date.now()) < 60_000)
  t.same(Object.keys(s).slice(0, 8), ['users', 'hosts', 'hostsOnline', 'shards', 'shardsUnderTarget', 'bytesStored', 'files', 'versions'],
    'the original fields, first and unchanged')

  const text = await admin('stats')
  t.equal(text.code, 0, text.stderr)
  t.match(text.stdout, /^hosts\s+7 known: 3 online, 1 offline, 1 suspended, 1 exiting, 1 exited$/m)
  t.match(text.stdout, /^capacity\s+55\.9 GiB offered, 27\.9 GiB of it by online hosts$/m)
  t.match(text.stdout, /^\s+5\.6 GiB used on hosts \(10\.0% of offered\)$/m)
  t.match(text.stdout, /^data\s+2 users, 2 files \(14\.6 KiB\), 2 versions$/m)
  t.match(text.stdout, /^\s+5 shards \(20\.0 KiB\), 44\.0 KiB stored with mirrors \(x2\.20\)$/m)
  t.match(text.stdout, /^shards\s+4 under target, 3 at risk/m)
  t.match(text.stdout, /^repair\s+3 queued \(the next round takes 3\), 1 unrepairable/m)
  t.match(text.stdout, /^audits\s+pass rate 87\.5%/m)
  t.notMatch(text.stdout, /\{|NaN|undefined/, 'a readable block, not a dump')

  // --offline-after: with an hour's grace D is online again, and so are its mirrors.
  const lenient = JSON.parse((await admin('--offline-after', '1h', 'stats', '--json')).stdout)
  t.match(lenient, {
    hostsOnline: 6, hostsByState: { online: 4, offline: 0 }, shardsUnderTarget: 3,
    repair: { underTarget: 3, oneCounted: 2, noneCounted: 1, queued: 3, unrepairable: 0 },
  })

  const help = await admin('stats', '--help')
  t.equal(help.code, 0)
  t.match(help.stdout, /the network at a glance/)
  t.match(help.stdout, /--json/)
  const bad = await admin('stats', '--bogus')
  t.equal(bad.code, 2, 'an unknown flag is a usage error')
  t.match(bad.stderr, /unknown option/)
  t.equal((await admin('--offline-after', 'soon', 'stats')).code, 2, 'a bad --offline-after too')
})
