import type { NetworkStats, StatsStore } from '../../admin/store.js'
import type { Db } from './db.js'

export function sqliteStats(db: Db): StatsStore {
  const q = db.prepare<{ since: number }, NetworkStats>(`SELECT
    (SELECT COUNT(*) FROM users) AS users,
    (SELECT COUNT(*) FROM hosts) AS hosts,
    (SELECT COUNT(*) FROM hosts WHERE last_seen >= @since) AS hostsOnline,
    (SELECT COUNT(*) FROM shards) AS shards,
    (SELECT COUNT(*) FROM shards s WHERE s.target_mirrors > (
      SELECT COUNT(*) FROM mirrors m JOIN hosts h ON h.id = m.host_id WHERE m.hash = s.hash AND h.last_seen >= @since)) AS shardsUnderTarget,
    (SELECT COALESCE(SUM(s.size), 0) FROM mirrors m JOIN shards s ON s.hash = m.hash) AS bytesStored,
    (SELECT COUNT(*) FROM nodes WHERE kind = 'file') AS files,
    (SELECT COUNT(*) FROM versions) AS versions`)
  return { stats: (since) => q.get({ since })! }
}
