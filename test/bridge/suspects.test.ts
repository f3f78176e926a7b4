/**
 * Corrupt-shard reports: a report only brings an audit forward. A host that fails it loses the
 * mirror; an honest host keeps it; reports are deduplicated, cooled down and bounded.
 */
import t from 'tap'
import { challengeDigest } from '../../src/shared/orders.js'
import { MAX_PENDING, Suspects } from '../../src/bridge/audit/suspects.js'
import type { AuditDeps } from '../../src/bridge/audit/auditor.js'
import type { HostRecord } from '../../src/bridge/hosts/store.js'

const NOW = 1_800_000_000_000
const SHARD = Buffer.from('the real shard bytes')
const SALT = 'ab'.repeat(16)

function host(id: string): HostRecord {
  return {
    id, schedule: null, lastSeen: NOW, successes: 5, failures: 0, auditsPassed: 0, auditsFailed: 0, approved: true, banned: false,
    exitStartedAt: null, exitedAt: null, accruedUntil: null, egressSeen: 0, egressCredit: 0, createdAt: NOW,
    reportedShards: 0, bytesIn: 0, bytesOut: 0, uptimeMs: 0,
  } as unknown as HostRecord
}

/** A bridge with one shard on hosts a and b; `answers` says what each host replies to an audit. */
function world(answers: Record<string, string | null>) {
  const hosts = new Map(['a', 'b'].map((id) => [id, host(id)]))
  const mirrors = new Map([['h1', ['a', 'b']]])
  const audits: Array<{ host: string; result: string }> = []
  const removed: string[] = []
  const sent: string[] = []
  const d = {
    ctx: { now: () => NOW, offlineAfterMs: 60_000, prices: { currency: 'USD', storagePerGBHour: 0, egressPerGB: 0 } },
    store: {
      getHost: (id: string) => hosts.get(id),
      hostsByIds: (ids: string[]) => ids.map((id) => hosts.get(id)!).filter(Boolean),
      allHosts: () => [...hosts.values()],
      mirrorsOf: (hs: string[]) => new Map(hs.map((h) => [h, mirrors.get(h) ?? []])),
      pickChallenge: (hash: string) => ({ id: 1, hash, salt: SALT, digest: challengeDigest(SALT, SHARD), source: 'client' }),
      challengeCount: () => 10,
      spendChallenge: () => {},
      addChallenges: () => {},
      recordAudit: (hostId: string, _h: string, result: string) => { audits.push({ host: hostId, result }) },
      removeMirror: (hash: string, hostId: string) => {
        removed.push(hostId)
        mirrors.set(hash, mirrors.get(hash)!.filter((x) => x !== hostId))
        return { size: SHARD.length, storedAt: NOW - 1000 }
      },
      queueDeletion: () => {},
      appendLedger: () => {},
      ledgerTotals: () => [],
      setAccruedUntil: () => {},
    },
    orders: {
      send: async (h: HostRecord) => {
        sent.push(h.id)
        return { digest: answers[h.id] ?? null, topUp: [] }
      },
    },
    log: { info: () => {}, warn: () => {} },
    perHost: 2,
  } as unknown as AuditDeps
  return { d, audits, removed, sent }
}

t.test('a report about a host that spoiled the shard: audited at once, mirror dropped', async (t) => {
  const w = world({ a: 'ff'.repeat(32), b: challengeDigest(SALT, SHARD) })
  const s = new Suspects(60_000)
  t.ok(s.report('a', 'h1', NOW))
  const r = await s.round(w.d)
  t.same(r, { audited: 1, failed: 1 })
  t.same(w.removed, ['a'], 'the corrupt mirror is dropped, so repair replaces it')
  t.same(w.sent, ['a', 'b'], 'the wrong digest was cross-checked on the other mirror')
})

t.test('a false report about an honest host: the audit passes and the mirror stays', async (t) => {
  const w = world({ a: challengeDigest(SALT, SHARD) })
  const s = new Suspects(60_000)
  s.report('a', 'h1', NOW)
  t.same(await s.round(w.d), { audited: 1, failed: 0 })
  t.same(w.removed, [])
  t.same(w.audits, [{ host: 'a', result: 'pass' }])
})

t.test('reports are deduplicated, cooled down, bounded, and dropped when the mirror is gone', async (t) => {
  const w = world({ a: challengeDigest(SALT, SHARD) })
  const s = new Suspects(60_000)
  t.ok(s.report('a', 'h1', NOW))
  t.notOk(s.report('a', 'h1', NOW), 'already waiting')
  await s.round(w.d)
  t.notOk(s.report('a', 'h1', NOW + 1000), 'audited a second ago: cooling down')
  t.equal(s.size, 0)
  for (let i = 0; i < MAX_PENDING; i++) s.report('b', `x${i}`, NOW)
  t.notOk(s.report('b', 'one-more', NOW), 'full')
  t.equal(s.size, MAX_PENDING)
  const r = await s.round(w.d)
  t.same(r, { audited: 0, failed: 0 }, 'shards the host no longer holds are not audited')
  t.equal(s.size, 0)
  t.same(w.sent, ['a'], 'no order was sent for them')
})
