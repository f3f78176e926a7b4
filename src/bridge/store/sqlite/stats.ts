import type { ShardHealthRow, StatsCounts, StatsStore } from '../../admin/store.js'
import type { Db } from './db.js'

export function sqliteStats(db: Db): StatsStore {
  const counts = db.prepare<[], StatsCounts>(`SELECT
    (SELECT COUNT(*) FROM users) AS users,
    (SELECT COUNT(*) FROM nodes WHERE kind = 'file') AS files,
    (SELECT COALESCE(SUM(size), 0) FROM nodes WHERE kind = 'file') AS fileBytes,
    (SELECT COUNT(*) FROM versions) AS versions,
    (SELECT COALESCE(SUM(audits_passed), 0) FROM hosts) AS auditsPassed,
    (SELECT COALESCE(SUM(audits_failed), 0) FROM hosts) AS auditsFailed,
    (SELECT MAX(at) FROM audits) AS lastAuditAt,
    (SELECT MAX(at) FROM repairs) AS lastRepairAt`)
  // One pass over shards joined to their mirrors (both ordered by hash), then grouped twice: per
  // shard, then per (target, counted, source). Memory stays at the number of groups.
  const health = db.prepare<{ counted: string; sources: string }, Omit<ShardHealthRow, 'hasSource'> & { hasSource: number }>(`
    WITH counted(id) AS (SELECT value FROM json_each(@counted)), sources(id) AS (SELECT value FROM json_each(@sources))
    SELECT target, counted, hasSource, COUNT(*) AS shards, SUM(size) AS bytes, SUM(size * mirrors) AS storedBytes FROM (
      SELECT s.target_mirrors AS target, s.size, COUNT(m.host_id) AS mirrors,
        COALESCE(SUM(m.host_id IN counted), 0) AS counted, COALESCE(MAX(m.host_id IN sources), 0) AS hasSource
      FROM shards s LEFT JOIN mirrors m ON m.hash = s.hash
      GROUP BY s.hash)
    GROUP BY target, counted, hasSource
    ORDER BY target, counted, hasSource`)
  return {
    statsCounts: () => counts.get()!,
    shardHealth: (counted, sources) =>
      health.all({ counted: JSON.stringify(counted), sources: JSON.stringify(sources) }).map((r) => ({ ...r, hasSource: r.hasSource === 1 })),
  }
}
