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
  reported_shards: number
  bytes_in: number
  bytes_out: number
  uptime_ms: number
  last_seen: number
  successes: number
  failures: number
  created_at: number
}

function toHost(r: HostRow): HostRecord {
  return {
    id: r.id, publicKey: r.public_key, url: r.url, fingerprint: r.fingerprint, cert: r.cert, capacity: r.capacity,
    used: r.used, region: r.region, maxUploadRate: r.max_upload_rate, maxDownloadRate: r.max_download_rate,
    reportedShards: r.reported_shards, bytesIn: r.bytes_in, bytesOut: r.bytes_out, uptimeMs: r.uptime_ms,
    lastSeen: r.last_seen, successes: r.successes, failures: r.failures, createdAt: r.created_at,
  }
}

export function sqliteHosts(db: Db): HostStore {
  const upsert = db.prepare(`
    INSERT INTO hosts (id, public_key, url, fingerprint, cert, capacity, used, region, max_upload_rate, max_download_rate, last_seen, created_at)
    VALUES (@id, @publicKey, @url, @fingerprint, @cert, @capacity, @used, @region, @maxUploadRate, @maxDownloadRate, @now, @now)
    ON CONFLICT (id) DO UPDATE SET url = excluded.url, fingerprint = excluded.fingerprint, cert = excluded.cert,
      capacity = excluded.capacity, used = excluded.used, region = excluded.region,
      max_upload_rate = excluded.max_upload_rate, max_download_rate = excluded.max_download_rate, last_seen = excluded.last_seen`)
  const heartbeat = db.prepare(`
    UPDATE hosts SET capacity = @capacity, used = @used, reported_shards = @shards, bytes_in = @bytesIn,
      bytes_out = @bytesOut, uptime_ms = @uptimeMs, last_seen = @now WHERE id = @id`)
  const get = db.prepare<[string], HostRow>('SELECT * FROM hosts WHERE id = ?')
  const byIds = db.prepare<[string], HostRow>('SELECT * FROM hosts WHERE id IN (SELECT value FROM json_each(?))')
  const seenSince = db.prepare<[number], HostRow>('SELECT * FROM hosts WHERE last_seen >= ?')
  const all = db.prepare<[], HostRow>('SELECT * FROM hosts ORDER BY created_at, id')
  const insertEvent = db.prepare('INSERT INTO host_events (host_id, at, kind, reason, hash, reporter_id) VALUES (?, ?, ?, ?, ?, ?)')
  const addFailure = db.prepare('UPDATE hosts SET failures = failures + 1 WHERE id = ?')
  const addSuccesses = db.prepare('UPDATE hosts SET successes = successes + ? WHERE id = ?')
  const recordFailure = db.transaction((e: Parameters<HostStore['recordFailure']>[0]) => {
    insertEvent.run(e.hostId, e.at, 'failure', e.reason, e.hash, e.reporterId)
    addFailure.run(e.hostId)
  })
  return {
    upsertHost(id, a, now) {
      upsert.run({ id, ...a, now })
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
    recordFailure(e) {
      recordFailure(e)
    },
    addSuccesses(hostId, n) {
      addSuccesses.run(n, hostId)
    },
  }
}
