import type { Change, NodeKind, TreeNode } from '../../../shared/protocol.js'
import type { TreeStore } from '../../tree/store.js'
import type { Db } from './db.js'

interface NodeRow {
  id: string
  parent_id: string | null
  name_hash: string
  enc_name: string
  kind: NodeKind
  enc_meta: string | null
  version_id: string | null
  size: number
  revision: number
  mtime: number
}

const NODE_COLUMNS = 'id, parent_id, name_hash, enc_name, kind, enc_meta, version_id, size, revision, mtime'

function toNode(r: NodeRow): TreeNode {
  return {
    id: r.id, parentId: r.parent_id, nameHash: r.name_hash, encName: r.enc_name, kind: r.kind, encMeta: r.enc_meta,
    versionId: r.version_id, size: r.size, revision: r.revision, mtime: r.mtime,
  }
}

export function sqliteTree(db: Db): TreeStore {
  const get = db.prepare<[string, string], NodeRow>(`SELECT ${NODE_COLUMNS} FROM nodes WHERE id = ? AND user_id = ?`)
  const root = db.prepare<[string], NodeRow>(`SELECT ${NODE_COLUMNS} FROM nodes WHERE user_id = ? AND parent_id IS NULL`)
  const byName = db.prepare<[string, string, string], NodeRow>(
    `SELECT ${NODE_COLUMNS} FROM nodes WHERE parent_id = ? AND name_hash = ? AND user_id = ?`)
  const children = db.prepare<[string, string], NodeRow>(
    `SELECT ${NODE_COLUMNS} FROM nodes WHERE parent_id = ? AND user_id = ? ORDER BY name_hash`)
  const hasChild = db.prepare<[string, string], { x: number }>('SELECT 1 AS x FROM nodes WHERE parent_id = ? AND user_id = ? LIMIT 1')
  const ancestors = db.prepare<{ id: string; userId: string }, { id: string }>(`
    WITH RECURSIVE up(id, parent_id, depth) AS (
      SELECT id, parent_id, 0 FROM nodes WHERE id = (SELECT parent_id FROM nodes WHERE id = @id AND user_id = @userId)
      UNION ALL
      SELECT n.id, n.parent_id, up.depth + 1 FROM nodes n JOIN up ON n.id = up.parent_id WHERE n.user_id = @userId
    ) SELECT id FROM up ORDER BY depth`)
  const insert = db.prepare(`INSERT INTO nodes (user_id, ${NODE_COLUMNS})
    VALUES (@userId, @id, @parentId, @nameHash, @encName, @kind, @encMeta, @versionId, @size, @revision, @mtime)`)
  const update = db.prepare(`UPDATE nodes SET parent_id = @parentId, name_hash = @nameHash, enc_name = @encName,
    enc_meta = @encMeta, version_id = @versionId, size = @size, revision = @revision, mtime = @mtime
    WHERE id = @id AND user_id = @userId`)
  const del = db.prepare('DELETE FROM nodes WHERE id = ? AND user_id = ?')
  const appendChange = db.prepare('INSERT INTO changes (user_id, node_id, op, node, at) VALUES (?, ?, ?, ?, ?)')
  const changes = db.prepare<[string, number, number], { seq: number; node_id: string; op: Change['op']; node: string | null }>(
    'SELECT seq, node_id, op, node FROM changes WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?')
  const usage = db.prepare<[string], { usedBytes: number; files: number }>(
    "SELECT COALESCE(SUM(size), 0) AS usedBytes, COUNT(*) AS files FROM nodes WHERE user_id = ? AND kind = 'file'")

  return {
    getNode(userId, id) {
      const r = get.get(id, userId)
      return r && toNode(r)
    },
    rootOf(userId) {
      const r = root.get(userId)
      return r && toNode(r)
    },
    childByName(userId, parentId, nameHash) {
      const r = byName.get(parentId, nameHash, userId)
      return r && toNode(r)
    },
    children: (userId, parentId) => children.all(parentId, userId).map(toNode),
    hasChildren: (userId, id) => hasChild.get(id, userId) !== undefined,
    ancestors: (userId, id) => ancestors.all({ id, userId }).map((r) => r.id),
    insertNode(userId, n) {
      insert.run({ userId, ...n })
    },
    updateNode(userId, n) {
      update.run({ userId, ...n })
    },
    deleteNode(userId, id) {
      del.run(id, userId)
    },
    appendChange(userId, nodeId, op, node, at) {
      return Number(appendChange.run(userId, nodeId, op, node && JSON.stringify(node), at).lastInsertRowid)
    },
    changesSince: (userId, since, limit) =>
      changes.all(userId, since, limit).map((r) => ({
        seq: r.seq, nodeId: r.node_id, op: r.op, node: r.node === null ? null : (JSON.parse(r.node) as TreeNode),
      })),
    usage: (userId) => usage.get(userId)!,
  }
}
