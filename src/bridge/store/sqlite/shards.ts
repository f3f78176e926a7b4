import type { ShardStore, VersionRecord } from '../../shards/store.js'
import type { Db } from './db.js'

interface VersionRow {
  id: string
  user_id: string
  node_id: string
  size: number
  wrapped_key: string
  manifest: string
  shard_count: number
  created_at: number
}

function groupHosts(rows: { hash: string; host_id: string }[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const r of rows) {
    const list = out.get(r.hash)
    if (list) list.push(r.host_id)
    else out.set(r.hash, [r.host_id])
  }
  return out
}

export function sqliteShards(db: Db): ShardStore {
  const insertVersion = db.prepare(`INSERT INTO versions (id, user_id, node_id, size, wrapped_key, manifest, shard_count, created_at)
    VALUES (@id, @userId, @nodeId, @size, @wrappedKey, @manifest, @shardCount, @createdAt)`)
  const insertVersionShard = db.prepare('INSERT INTO version_shards (version_id, idx, hash, size) VALUES (?, ?, ?, ?)')
  const insertShard = db.prepare('INSERT INTO shards (hash, size, target_mirrors, created_at, regions) VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO UPDATE SET target_mirrors = MAX(target_mirrors, excluded.target_mirrors)')
  const insertMirror = db.prepare('INSERT OR IGNORE INTO mirrors (hash, host_id, stored_at) VALUES (?, ?, ?)')
  const getVersion = db.prepare<[string, string], VersionRow>('SELECT * FROM versions WHERE id = ? AND user_id = ?')
  const versionShards = db.prepare<[string, number, number], { index: number; hash: string; size: number }>(
    'SELECT idx AS "index", hash, size FROM version_shards WHERE version_id = ? AND idx >= ? ORDER BY idx LIMIT ?')
  const mirrorsOf = db.prepare<[string], { hash: string; host_id: string }>(
    'SELECT hash, host_id FROM mirrors WHERE hash IN (SELECT value FROM json_each(?))')
  const userHasShard = db.prepare<[string, string], { x: number }>(
    'SELECT 1 AS x FROM version_shards vs JOIN versions v ON v.id = vs.version_id WHERE vs.hash = ? AND v.user_id = ? LIMIT 1')
  const allShards = db.prepare<[], { hash: string; size: number; target: number }>('SELECT hash, size, target_mirrors AS target FROM shards ORDER BY hash')
  const allMirrors = db.prepare<[], { hash: string; host_id: string; stored_at: number }>('SELECT hash, host_id, stored_at FROM mirrors ORDER BY hash, stored_at, host_id')
  const mirrorCounts = db.prepare<[], { host_id: string; n: number }>('SELECT host_id, COUNT(*) AS n FROM mirrors GROUP BY host_id')

  return {
    insertVersion(v, shards, mirrors, targetMirrors, regions) {
      const regionText = regions ? JSON.stringify(regions) : null
      db.transaction(() => {
        insertVersion.run(v)
        shards.forEach((s, i) => {
          insertVersionShard.run(v.id, i, s.hash, s.size)
          insertShard.run(s.hash, s.size, targetMirrors, v.createdAt, regionText)
          for (const host of mirrors.get(s.hash) ?? []) insertMirror.run(s.hash, host, v.createdAt)
        })
      })()
    },
    getVersion(userId, id): VersionRecord | undefined {
      const r = getVersion.get(id, userId)
      return r && {
        id: r.id, userId: r.user_id, nodeId: r.node_id, size: r.size, wrappedKey: r.wrapped_key, manifest: r.manifest,
        shardCount: r.shard_count, createdAt: r.created_at,
      }
    },
    versionShards: (versionId, from, count) => versionShards.all(versionId, from, count),
    mirrorsOf: (hashes) => (hashes.length === 0 ? new Map() : groupHosts(mirrorsOf.all(JSON.stringify(hashes)))),
    userHasShard: (userId, hash) => userHasShard.get(hash, userId) !== undefined,
    listShards() {
      const rows = new Map<string, Array<{ hostId: string; storedAt: number }>>()
      for (const m of allMirrors.all()) {
        const list = rows.get(m.hash)
        const item = { hostId: m.host_id, storedAt: m.stored_at }
        if (list) list.push(item)
        else rows.set(m.hash, [item])
      }
      return allShards.all().map((s) => {
        const mirrors = rows.get(s.hash) ?? []
        return { hash: s.hash, size: s.size, target: s.target, hosts: mirrors.map((m) => m.hostId), mirrors }
      })
    },
    mirrorCounts: () => new Map(mirrorCounts.all().map((r) => [r.host_id, r.n])),
  }
}
