import type { HostRecord, HostStore } from '../../hosts/store.js'
import type { Db } from './db.js'

interface HostRow {
  id: string
  public_key: string
  url: string
  fingerprint: string
  cert: string
  capacity: number
  used: number
  region: string
  max_upload_rate: number | null
  max_download_rate: number | null
  schedule: string | null
  reported_shards: number
  bytes_in: number
  bytes_out: number
  uptime_ms: number
  last_seen: number
  successes: number
  failures: number
  audits_passed: number
  audits_failed: number
  approved: number
  banned: number
  exit_started_at: number | null
  exited_at: number | null
  accrued_until: number | null
  egress_seen: number
  egress_credit: number
  created_at: number
}

export function toHost(r: HostRow): HostRecord {
  return {
    id: r.id, publicKey: r.public_key, url: r.url, fingerprint: r.fingerprint, cert: r.cert, capacity: r.capacity,
    used: r.used, region: r.region, maxUploadRate: r.max_upload_rate, maxDownloadRate: r.max_download_rate, schedule: r.schedule,
    reportedShards: r.reported_shards, bytesIn: r.bytes_in, bytesOut: r.bytes_out, uptimeMs: r.uptime_ms,
    lastSeen: r.last_seen, successes: r.successes, failures: r.failures, auditsPassed: r.audits_passed, auditsFailed: r.audits_failed,
    approved: r.approved === 1, banned: r.banned === 1, exitStartedAt: r.exit_started_at, exitedAt: r.exited_at,
    accruedUntil: r.accrued_until, egressSeen: r.egress_seen, egressCredit: r.egress_credit, createdAt: r.created_at,
  }
}

export function sqliteHosts(db: Db): HostStore {
  const upsert = db.prepare(`
    INSERT INTO hosts (id, public_key, url, fingerprint, cert, capacity, used, region, max_upload_rate, max_download_rate, schedule, last_seen, created_at)
    VALUES (@id, @publicKey, @url, @fingerprint, @cert, @capacity, @used, @region, @maxUploadRate, @maxDownloadRate, @schedule, @now, @now)
    ON CONFLICT (id) DO UPDATE SET url = excluded.url, fingerprint = excluded.fingerprint, cert = excluded.cert,
      capacity = excluded.capacity, used = excluded.used, region = excluded.region,
      max_upload_rate = excluded.max_upload_rate, max_download_rate = excluded.max_download_rate, schedule = excluded.schedule,
      last_seen = excluded.last_seen`)
  const heartbeat = db.prepare(`
    UPDATE hosts SET capacity = @capacity, used = @used, reported_shards = @shards, bytes_in = @bytesIn,
      bytes_out = @bytesOut, uptime_ms = @uptimeMs, last_seen = @now WHERE id = @id`)
  const get = db.prepare<[string], HostRow>('SELECT * FROM hosts WHERE id = ?')
  const byIds = db.prepare<[string], HostRow>('SELECT * FROM hosts WHERE id IN (SELECT value FROM json_each(?))')
  const seenSince = db.prepare<[number], HostRow>('SELECT * FROM hosts WHERE last_seen >= ? AND exited_at IS NULL')
  const all = db.prepare<[], HostRow>('SELECT * FROM hosts ORDER BY created_at, id')
  const insertEvent = db.prepare('INSERT INTO host_events (host_id, at, kind, reason, hash, reporter_id) VALUES (?, ?, ?, ?, ?, ?)')
  const addFailure = db.prepare('UPDATE hosts SET failures = failures + 1 WHERE id = ?')
  const addSuccesses = db.prepare('UPDATE hosts SET successes = successes + ? WHERE id = ?')
  const setApproved = db.prepare('UPDATE hosts SET approved = ? WHERE id = ?')
  const setBanned = db.prepare('UPDATE hosts SET banned = ? WHERE id = ?')
  const startExit = db.prepare('UPDATE hosts SET exit_started_at = COALESCE(exit_started_at, ?) WHERE id = ?')
  const markExited = db.prepare('UPDATE hosts SET exited_at = COALESCE(exited_at, ?) WHERE id = ?')
  const addCredit = db.prepare('UPDATE hosts SET egress_credit = MAX(0, egress_credit + ?) WHERE id = ?')
  const reportedLately = db.prepare<[string, number, string, string], { n: number }>(
    "SELECT 1 AS n FROM host_events WHERE host_id = ? AND at >= ? AND kind = 'failure' AND hash = ? AND reporter_id = ? LIMIT 1")
  const recordFailure = db.transaction((e: Parameters<HostStore['recordFailure']>[0], windowMs: number): boolean => {
    if (reportedLately.get(e.hostId, e.at - windowMs, e.hash, e.reporterId)) return false
    insertEvent.run(e.hostId, e.at, 'failure', e.reason, e.hash, e.reporterId)
    addFailure.run(e.hostId)
    return true
  })
  return {
    upsertHost(id, a, now) {
      upsert.run({ id, ...a, schedule: a.schedule ?? null, now })
    },
    heartbeat(id, hb, now) {
      heartbeat.run({ id, ...hb, now })
    },
    getHost(id) {
      const r = get.get(id)
      return r && toHost(r)
    },
    hostsByIds: (ids) => (ids.length === 0 ? [] : byIds.all(JSON.stringify(ids)).map(toHost)),
    hostsSeenSince: (since) => seenSince.all(since).map(toHost),
    allHosts: () => all.all().map(toHost),
    recordFailure: (e, windowMs) => recordFailure(e, windowMs),
    addSuccesses(hostId, n) {
      addSuccesses.run(n, hostId)
    },
    setApproval(hostId, f) {
      return db.transaction(() => {
        let changed = 0
        if (f.approved !== undefined) changed += setApproved.run(f.approved ? 1 : 0, hostId).changes
        if (f.banned !== undefined) changed += setBanned.run(f.banned ? 1 : 0, hostId).changes
        return changed > 0
      })()
    },
    startExit(hostId, now) {
      startExit.run(now, hostId)
    },
    markExited(hostId, now) {
      markExited.run(now, hostId)
    },
    addEgressCredit(credits) {
      db.transaction(() => {
        for (const [id, bytes] of credits) addCredit.run(bytes, id)
      })()
    },
  }
}
