/**
 * SQLite side of the self-healing domains: audits and challenges, repair, garbage collection and
 * the earnings ledger. Kept together because they share the mirror rows they all move.
 */
import type { AuditStore, Challenge } from '../../audit/store.js'
import type { LedgerEntry, LedgerStore } from '../../earnings/store.js'
import type { GcStore } from '../../gc/store.js'
import type { RepairStore, ShardMirrorsRow } from '../../repair/store.js'
import type { Db } from './db.js'

export function sqliteAudits(db: Db): AuditStore {
  const addChallenge = db.prepare('INSERT INTO challenges (hash, salt, digest, source, created_at) VALUES (?, ?, ?, ?, ?)')
  const pick = db.prepare<[string, string], Challenge>('SELECT id, hash, salt, digest, source FROM challenges WHERE hash = ? AND source <> ? ORDER BY id LIMIT 1')
  const count = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM challenges WHERE hash = ?')
  const spend = db.prepare('DELETE FROM challenges WHERE id = ?')
  const insertAudit = db.prepare('INSERT INTO audits (host_id, hash, at, result, reason) VALUES (?, ?, ?, ?, ?)')
  const passed = db.prepare('UPDATE hosts SET audits_passed = audits_passed + 1 WHERE id = ?')
  const failed = db.prepare('UPDATE hosts SET audits_failed = audits_failed + 1 WHERE id = ?')
  const sample = db.prepare<[string, number], { hash: string; size: number }>(
    'SELECT m.hash, s.size FROM mirrors m JOIN shards s ON s.hash = m.hash WHERE m.host_id = ? ORDER BY random() LIMIT ?')
  const counts = db.prepare<[number], { result: string; n: number }>('SELECT result, COUNT(*) AS n FROM audits WHERE at >= ? GROUP BY result')
  return {
    addChallenges(hash, pairs, source, now) {
      db.transaction(() => {
        for (const p of pairs) addChallenge.run(hash, p.salt, p.digest, source, now)
      })()
    },
    pickChallenge: (hash, hostId) => pick.get(hash, hostId),
    challengeCount: (hash) => count.get(hash)!.n,
    spendChallenge(id) {
      spend.run(id)
    },
    recordAudit(hostId, hash, result, reason, now) {
      db.transaction(() => {
        insertAudit.run(hostId, hash, now, result, reason)
        if (result === 'pass') passed.run(hostId)
        else if (result === 'fail') failed.run(hostId)
      })()
    },
    auditSample: (hostId, limit) => sample.all(hostId, limit),
    auditCounts(since) {
      const out = { passed: 0, failed: 0, inconclusive: 0 }
      for (const r of counts.all(since)) {
        if (r.result === 'pass') out.passed = r.n
        else if (r.result === 'fail') out.failed = r.n
        else out.inconclusive = r.n
      }
      return out
    },
  }
}

export function sqliteRepair(db: Db): RepairStore {
  const shards = db.prepare<[], { hash: string; size: number; target: number; regions: string | null; hosts: string | null }>(`
    SELECT s.hash, s.size, s.target_mirrors AS target, s.regions, (SELECT json_group_array(host_id) FROM (SELECT host_id FROM mirrors m WHERE m.hash = s.hash ORDER BY stored_at, host_id)) AS hosts
    FROM shards s`)
  // A shard GC forgot while a copy was on its way gets no mirror row (the caller deletes the copy).
  const add = db.prepare('INSERT OR IGNORE INTO mirrors (hash, host_id, stored_at) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM shards WHERE hash = ?)')
  const shardExists = db.prepare<[string], { n: number }>('SELECT 1 AS n FROM shards WHERE hash = ?')
  const find = db.prepare<[string, string], { size: number; storedAt: number }>(
    'SELECT s.size, m.stored_at AS storedAt FROM mirrors m JOIN shards s ON s.hash = m.hash WHERE m.hash = ? AND m.host_id = ?')
  const remove = db.prepare('DELETE FROM mirrors WHERE hash = ? AND host_id = ?')
  const failedOn = db.prepare<[string, number], { hostId: string }>(
    "SELECT DISTINCT host_id AS hostId FROM audits WHERE hash = ? AND at >= ? AND result = 'fail'")
  const log = db.prepare('INSERT INTO repairs (hash, source_id, target_id, size, at, ok, error) VALUES (@hash, @sourceId, @targetId, @size, @at, @ok, @error)')
  const onHost = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM mirrors WHERE host_id = ?')
  const since = db.prepare<[number], { ok: number | null; failed: number | null; bytes: number | null }>(
    'SELECT SUM(ok) AS ok, SUM(1 - ok) AS failed, SUM(CASE WHEN ok = 1 THEN size ELSE 0 END) AS bytes FROM repairs WHERE at >= ?')
  return {
    shardsWithMirrors: (): ShardMirrorsRow[] =>
      shards.all().map((r) => ({
        hash: r.hash, size: r.size, target: r.target,
        regions: r.regions === null ? null : (JSON.parse(r.regions) as string[]),
        hosts: r.hosts === null ? [] : (JSON.parse(r.hosts) as string[]),
      })),
    addMirror: (hash, hostId, now) => add.run(hash, hostId, now, hash).changes > 0,
    shardExists: (hash) => shardExists.get(hash) !== undefined,
    removeMirror(hash, hostId) {
      return db.transaction(() => {
        const row = find.get(hash, hostId)
        if (row) remove.run(hash, hostId)
        return row
      })()
    },
    recordRepair(r) {
      log.run({ ...r, ok: r.ok ? 1 : 0 })
    },
    mirrorCountOn: (hostId) => onHost.get(hostId)!.n,
    failedAuditHosts: (hash, since) => failedOn.all(hash, since).map((r) => r.hostId),
    repairsSince(t) {
      const r = since.get(t)!
      return { ok: r.ok ?? 0, failed: r.failed ?? 0, bytes: r.bytes ?? 0 }
    },
  }
}

export function sqliteGc(db: Db): GcStore {
  const retired = db.prepare<[number], { id: string }>('SELECT id FROM versions WHERE retired_at IS NOT NULL AND retired_at < ?')
  const dropVersionShards = db.prepare('DELETE FROM version_shards WHERE version_id = ?')
  const dropVersion = db.prepare('DELETE FROM versions WHERE id = ?')
  const orphans = db.prepare<[number, number], { hash: string; size: number; hosts: string | null }>(`
    SELECT s.hash, s.size, (SELECT json_group_array(host_id) FROM mirrors m WHERE m.hash = s.hash) AS hosts FROM shards s
    WHERE s.created_at < ? AND NOT EXISTS (SELECT 1 FROM version_shards vs WHERE vs.hash = s.hash) LIMIT ?`)
  const forgetShard = db.prepare('DELETE FROM shards WHERE hash = ?')
  const forgetChallenges = db.prepare('DELETE FROM challenges WHERE hash = ?')
  const expired = db.prepare<[number, number], { id: string }>('SELECT id FROM uploads WHERE expires_at < ? LIMIT ?')
  const leftovers = db.prepare<[string], { hash: string; host_id: string }>(`
    SELECT t.hash, t.host_id FROM upload_targets t WHERE t.upload_id = ?
    AND NOT EXISTS (SELECT 1 FROM mirrors m WHERE m.hash = t.hash AND m.host_id = t.host_id)`)
  const dropTargets = db.prepare('DELETE FROM upload_targets WHERE upload_id = ?')
  const dropReceipts = db.prepare('DELETE FROM upload_receipts WHERE upload_id = ?')
  const dropUpload = db.prepare('DELETE FROM uploads WHERE id = ?')
  const queue = db.prepare('INSERT OR IGNORE INTO deletions (hash, host_id, queued_at) VALUES (?, ?, ?)')
  const pending = db.prepare<[number], { host_id: string; hash: string }>(`
    SELECT host_id, hash FROM (SELECT host_id, hash, ROW_NUMBER() OVER (PARTITION BY host_id ORDER BY queued_at) AS k FROM deletions) WHERE k <= ?`)
  const clear = db.prepare('DELETE FROM deletions WHERE host_id = ? AND hash = ?')
  const isMirror = db.prepare<[string, string], { x: number }>('SELECT 1 AS x FROM mirrors WHERE hash = ? AND host_id = ?')
  // Placed again, by an upload still open, since the deletion was queued (a client resuming the
  // same shard in a new upload): the host is about to vouch for it again.
  const isTargeted = db.prepare<{ hash: string; host: string; now: number }, { x: number }>(`
    SELECT 1 AS x FROM upload_targets t JOIN uploads u ON u.id = t.upload_id
    WHERE t.hash = @hash AND t.host_id = @host AND u.expires_at >= @now
      AND t.placed_at >= COALESCE((SELECT queued_at FROM deletions d WHERE d.hash = @hash AND d.host_id = @host), 0)
    LIMIT 1`)
  const queued = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM deletions')
  return {
    dropRetiredVersions(before) {
      return db.transaction(() => {
        const ids = retired.all(before)
        for (const { id } of ids) {
          dropVersionShards.run(id)
          dropVersion.run(id)
        }
        return ids.length
      })()
    },
    orphanShards: (before, limit) =>
      orphans.all(before, limit).map((r) => ({ hash: r.hash, size: r.size, hosts: r.hosts === null ? [] : (JSON.parse(r.hosts) as string[]) })),
    forgetShard(hash) {
      db.transaction(() => {
        forgetShard.run(hash)
        forgetChallenges.run(hash)
      })()
    },
    expiredUploads: (before, limit) => expired.all(before, limit).map((r) => r.id),
    uploadLeftovers: (uploadId) => leftovers.all(uploadId).map((r) => ({ hash: r.hash, hostId: r.host_id })),
    dropUpload(uploadId) {
      db.transaction(() => {
        dropTargets.run(uploadId)
        dropReceipts.run(uploadId)
        dropUpload.run(uploadId)
      })()
    },
    queueDeletion(hash, hostId, now) {
      queue.run(hash, hostId, now)
    },
    pendingDeletions(perHost) {
      const out = new Map<string, string[]>()
      for (const r of pending.all(perHost)) {
        const list = out.get(r.host_id)
        if (list) list.push(r.hash)
        else out.set(r.host_id, [r.hash])
      }
      return out
    },
    clearDeletions(hostId, hashes) {
      db.transaction(() => {
        for (const h of hashes) clear.run(hostId, h)
      })()
    },
    isWanted: (hash, hostId, now) => isMirror.get(hash, hostId) !== undefined || isTargeted.get({ hash, host: hostId, now }) !== undefined,
    deletionsQueued: () => queued.get()!.n,
  }
}

interface LedgerRow {
  host_id: string
  kind: 'storage' | 'egress'
  period_start: number
  period_end: number
  quantity: number
  unit_price: number
  amount: number
  at: number
}

export function sqliteLedger(db: Db): LedgerStore {
  const insert = db.prepare(`INSERT INTO ledger (host_id, kind, period_start, period_end, quantity, unit_price, amount, at)
    VALUES (@hostId, @kind, @periodStart, @periodEnd, @quantity, @unitPrice, @amount, @at)`)
  const mirrors = db.prepare<[string], { size: number; storedAt: number }>(
    'SELECT s.size, m.stored_at AS storedAt FROM mirrors m JOIN shards s ON s.hash = m.hash WHERE m.host_id = ?')
  const setAccrued = db.prepare('UPDATE hosts SET accrued_until = ? WHERE id = ?')
  const setSeen = db.prepare('UPDATE hosts SET egress_seen = ? WHERE id = ?')
  const useCredit = db.prepare('UPDATE hosts SET egress_credit = MAX(0, egress_credit - ?) WHERE id = ?')
  const sumSince = db.prepare<[string, number], { a: number | null }>('SELECT SUM(amount) AS a FROM ledger WHERE host_id = ? AND at >= ?')
  const totals = db.prepare<[string], { a: number | null; s: number | null; e: number | null }>(`
    SELECT SUM(amount) AS a, SUM(CASE WHEN kind = 'storage' THEN quantity ELSE 0 END) AS s,
      SUM(CASE WHEN kind = 'egress' THEN quantity ELSE 0 END) AS e FROM ledger WHERE host_id = ?`)
  const entriesOf = db.prepare<[string], LedgerRow>('SELECT * FROM ledger WHERE host_id = ? ORDER BY id')
  const entriesAll = db.prepare<[], LedgerRow>('SELECT * FROM ledger ORDER BY id')
  const toEntry = (r: LedgerRow): LedgerEntry => ({
    hostId: r.host_id, kind: r.kind, periodStart: r.period_start, periodEnd: r.period_end, quantity: r.quantity,
    unitPrice: r.unit_price, amount: r.amount, at: r.at,
  })
  return {
    appendLedger(entries) {
      db.transaction(() => {
        for (const e of entries) insert.run(e)
      })()
    },
    hostMirrors: (hostId) => mirrors.all(hostId),
    setAccrual(hostId, f) {
      db.transaction(() => {
        if (f.accruedUntil !== undefined) setAccrued.run(f.accruedUntil, hostId)
        if (f.egressSeen !== undefined) setSeen.run(f.egressSeen, hostId)
        if (f.egressCreditUsed !== undefined) useCredit.run(f.egressCreditUsed, hostId)
      })()
    },
    ledgerTotals(hostId, since) {
      const t = totals.get(hostId)!
      return {
        amounts: since.map((s) => sumSince.get(hostId, s)!.a ?? 0),
        allTime: t.a ?? 0, storageByteMs: t.s ?? 0, egressBytes: t.e ?? 0,
      }
    },
    ledgerEntries: (hostId) => (hostId === undefined ? entriesAll.all() : entriesOf.all(hostId)).map(toEntry),
  }
}
