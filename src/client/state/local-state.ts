/**
 * The daemon's local state, in SQLite (HOME/state.db): the plaintext mirror of the tree, which
 * shards of each file sit in staging and which of those are dirty, the journal of changes still
 * to be applied at the bridge, and the sync cursor. Metadata calls are answered from here, in
 * microseconds, without a network round trip.
 *
 * Words and invariants:
 * - A **node** has a local inode number (`ino`, root = 1) and, once the bridge knows it, a
 *   `remote_id`. (parent, name) is unique among attached nodes. A node that was removed locally
 *   but whose removal has not reached the bridge yet is **detached** (parent 0, name '#ino'): it
 *   is invisible to lookups and is dropped once its `delete` op is applied.
 * - A file's content is its **base version** (`version_id`, the bytes the bridge has; only the
 *   first `base_size` bytes still count after a truncate) overlaid by **staged** shards: a row in
 *   `shards` means that shard's bytes live in staging/<ino>; `dirty_gen` set means they differ
 *   from the base version and must be uploaded. The staging file's length is the file's size
 *   whenever the node has staging (`staged = 1`).
 * - A shard row is marked dirty (in its own transaction) before the write that dirties it reaches
 *   the staging file, so after a crash the journal never under-reports what must be uploaded.
 * - Rows are cached in memory (by inode and by parent/name), written through: every change goes
 *   through this class, and a transaction that fails drops the cache, so it never disagrees with
 *   the file. Lookups on the FUSE hot path then cost a map access, not a query.
 * - The **journal** (`ops`) replays local history at the bridge in order: each op captures the
 *   parent and name it had when it happened, so a later rename is a later op.
 */
import Database from 'better-sqlite3'
import { xerr } from '../../shared/errors.js'

export type NodeKind = 'dir' | 'file' | 'symlink'

export interface LocalNode {
  ino: number
  parent: number
  name: string
  kind: NodeKind
  mode: number
  size: number
  mtime: number
  ctime: number
  target: string | null
  remoteId: string | null
  remoteRev: number
  versionId: string | null
  baseSize: number
  staged: boolean
  dirty: boolean
  gen: number
}

export type OpKind = 'create' | 'upload' | 'move' | 'delete' | 'meta'

export interface Op {
  seq: number
  kind: OpKind
  ino: number
  /** create/move: where the node was when the op happened. */
  parent: number | null
  name: string | null
  /** When it was queued (ms since the epoch). */
  at: number
}

interface NodeRow {
  ino: number; parent: number; name: string; kind: NodeKind; mode: number; size: number; mtime: number; ctime: number
  target: string | null; remote_id: string | null; remote_rev: number; version_id: string | null; base_size: number
  staged: number; dirty: number; gen: number
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (
  ino INTEGER PRIMARY KEY,
  parent INTEGER NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('dir', 'file', 'symlink')),
  mode INTEGER NOT NULL,
  size INTEGER NOT NULL DEFAULT 0,
  mtime REAL NOT NULL,
  ctime REAL NOT NULL,
  target TEXT,
  remote_id TEXT UNIQUE,
  remote_rev INTEGER NOT NULL DEFAULT 0,
  version_id TEXT,
  base_size INTEGER NOT NULL DEFAULT 0,
  staged INTEGER NOT NULL DEFAULT 0,
  dirty INTEGER NOT NULL DEFAULT 0,
  gen INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS nodes_by_name ON nodes (parent, name);
CREATE TABLE IF NOT EXISTS shards (
  ino INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  dirty_gen INTEGER,
  PRIMARY KEY (ino, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ops (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  ino INTEGER NOT NULL,
  parent INTEGER,
  name TEXT,
  at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ops_by_ino ON ops (ino, kind);
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);
`

export const ROOT_INO = 1

const OP_COUNT_SQL = "SELECT COUNT(*) AS n, COALESCE(SUM(kind = 'upload'), 0) AS uploads FROM ops"

/**
 * The journal's pending changes in the state file `file`, read beside a daemon that may be running
 * (a read-only connection: WAL shows it every transaction the daemon committed). A file is in the
 * journal as soon as close(2) returns, so this is current where the daemon's status.json, written
 * each second, can be a second old.
 */
export function readOpCounts(file: string): { ops: number; uploads: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    db.pragma('busy_timeout = 2000')
    const r = db.prepare<[], { n: number; uploads: number }>(OP_COUNT_SQL).get()!
    return { ops: r.n, uploads: r.uploads }
  } finally {
    db.close()
  }
}

/** LocalNode field → column, for update(). */
/** Columns a getattr or a listing shows (directly, or like `staged`, through the live size). */
const VISIBLE = new Set(['parent', 'name', 'kind', 'mode', 'size', 'mtime', 'ctime', 'target', 'staged'])
/** Fields whose change can change what a read of the node returns. */
const CONTENT = new Set(['kind', 'size', 'remoteId', 'versionId', 'baseSize', 'staged'])

const COLUMNS: Record<string, string> = {
  parent: 'parent', name: 'name', kind: 'kind', mode: 'mode', size: 'size', mtime: 'mtime', ctime: 'ctime', target: 'target',
  remoteId: 'remote_id', remoteRev: 'remote_rev', versionId: 'version_id', baseSize: 'base_size', staged: 'staged', dirty: 'dirty', gen: 'gen',
}

function toNode(r: NodeRow): LocalNode {
  return {
    ino: r.ino, parent: r.parent, name: r.name, kind: r.kind, mode: r.mode, size: r.size, mtime: r.mtime, ctime: r.ctime,
    target: r.target, remoteId: r.remote_id, remoteRev: r.remote_rev, versionId: r.version_id, baseSize: r.base_size,
    staged: r.staged === 1, dirty: r.dirty === 1, gen: r.gen,
  }
}

export class LocalState {
  readonly db: Database.Database
  /**
   * One transaction wrapper for every call: better-sqlite3 builds a wrapper per function given to
   * db.transaction(), and a one-row transaction took 18-25 us that way against 4-10 us through
   * one wrapper (measured). Nested calls become savepoints, as they would with wrappers of their own.
   */
  private readonly txn: (fn: () => unknown) => unknown
  private readonly q
  private readonly updates = new Map<string, Database.Statement>()

  /**
   * Called in the same synchronous step as every change a getattr or a listing could see (a
   * node's attributes, name, place or existence), so caches of attributes outside this object
   * (the mount's native one) drop what they hold before anything observes the change.
   */
  visibleChanged: () => void = () => {}

  /**
   * Called in the same synchronous step as every change to what a read of node `ino` returns (its
   * version, size, staging or staged shards), before the change is visible, so readers outside
   * JavaScript (the mount's native reads) stop using the content they were handed.
   */
  contentChanged: (ino: number) => void = () => {}

  constructor(file: string) {
    this.db = new Database(file)
    this.db.pragma('journal_mode = WAL')
    // NORMAL in WAL mode: a committed transaction survives the daemon being killed (it is in the
    // WAL file); only a power cut can drop the last ones, like the page cache of staged bytes.
    this.db.pragma('synchronous = NORMAL')
    // Statement journals and other temporary data in memory, not in short-lived files in the
    // system's temporary folder (see the bridge's store/sqlite/db.ts).
    this.db.pragma('temp_store = MEMORY')
    this.db.exec(SCHEMA)
    // State files from before ops carried their queue time.
    if (!(this.db.pragma('table_info(ops)') as Array<{ name: string }>).some((c) => c.name === 'at')) {
      this.db.exec('ALTER TABLE ops ADD COLUMN at INTEGER NOT NULL DEFAULT 0')
    }
    const now = Date.now()
    this.db.prepare(`INSERT OR IGNORE INTO nodes (ino, parent, name, kind, mode, mtime, ctime) VALUES (1, 0, '', 'dir', ${0o40755}, ?, ?)`).run(now, now)
    const db = this.db
    this.txn = db.transaction((fn: () => unknown) => fn())
    this.q = {
      get: db.prepare<[number], NodeRow>('SELECT * FROM nodes WHERE ino = ?'),
      child: db.prepare<[number, string], NodeRow>('SELECT * FROM nodes WHERE parent = ? AND name = ?'),
      children: db.prepare<[number], NodeRow>('SELECT * FROM nodes WHERE parent = ? ORDER BY name'),
      hasChildren: db.prepare<[number], { x: number }>('SELECT 1 AS x FROM nodes WHERE parent = ? LIMIT 1'),
      byRemote: db.prepare<[string], NodeRow>('SELECT * FROM nodes WHERE remote_id = ?'),
      insert: db.prepare(`INSERT INTO nodes (parent, name, kind, mode, size, mtime, ctime, target, remote_id, remote_rev, version_id, base_size, staged, dirty)
        VALUES (@parent, @name, @kind, @mode, @size, @mtime, @ctime, @target, @remoteId, @remoteRev, @versionId, @baseSize, @staged, @dirty)`),
      move: db.prepare('UPDATE nodes SET parent = ?, name = ?, ctime = ? WHERE ino = ?'),
      detach: db.prepare("UPDATE nodes SET parent = 0, name = '#' || ino WHERE ino = ?"),
      drop: db.prepare('DELETE FROM nodes WHERE ino = ?'),
      dropShards: db.prepare('DELETE FROM shards WHERE ino = ?'),
      shardRows: db.prepare<[number], { idx: number; dirty_gen: number | null }>('SELECT idx, dirty_gen FROM shards WHERE ino = ? ORDER BY idx'),
      shardRow: db.prepare<[number, number], { dirty_gen: number | null }>('SELECT dirty_gen FROM shards WHERE ino = ? AND idx = ?'),
      markShard: db.prepare('INSERT INTO shards (ino, idx, dirty_gen) VALUES (?, ?, ?) ON CONFLICT (ino, idx) DO UPDATE SET dirty_gen = excluded.dirty_gen'),
      presentShard: db.prepare('INSERT OR IGNORE INTO shards (ino, idx, dirty_gen) VALUES (?, ?, NULL)'),
      cleanShard: db.prepare('UPDATE shards SET dirty_gen = NULL WHERE ino = ? AND idx = ? AND dirty_gen = ?'),
      dropShardsFrom: db.prepare('DELETE FROM shards WHERE ino = ? AND idx >= ?'),
      dirtyCount: db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM shards WHERE ino = ? AND dirty_gen IS NOT NULL'),
      enqueue: db.prepare('INSERT INTO ops (kind, ino, parent, name, at) VALUES (?, ?, ?, ?, ?)'),
      hasOp: db.prepare<[number, string], { x: number }>('SELECT 1 AS x FROM ops WHERE ino = ? AND kind = ? LIMIT 1'),
      pendingOps: db.prepare<[number], { ino: number; kind: OpKind; seq: number; parent: number | null; name: string | null; at: number }>('SELECT * FROM ops ORDER BY seq LIMIT ?'),
      opsOf: db.prepare<[number], { x: number }>('SELECT 1 AS x FROM ops WHERE ino = ? LIMIT 1'),
      doneOp: db.prepare('DELETE FROM ops WHERE seq = ?'),
      opCount: db.prepare<[], { n: number; uploads: number }>(OP_COUNT_SQL),
      kvGet: db.prepare<[string], { v: string }>('SELECT v FROM kv WHERE k = ?'),
      kvSet: db.prepare('INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v'),
      stats: db.prepare<[], { files: number; dirs: number; bytes: number; staged: number }>(
        "SELECT COALESCE(SUM(kind = 'file'), 0) AS files, COALESCE(SUM(kind = 'dir'), 0) AS dirs, COALESCE(SUM(CASE WHEN kind = 'file' THEN size ELSE 0 END), 0) AS bytes, COALESCE(SUM(staged), 0) AS staged FROM nodes WHERE parent != 0"),
    }
  }

  close(): void {
    this.db.close()
  }

  transaction<T>(fn: () => T): T {
    try {
      return this.txn(fn) as T
    } catch (err) {
      // The rows rolled back; cached copies of them may not have.
      this.nodes.clear()
      this.names.clear()
      throw err
    }
  }

  private readonly nodes = new Map<number, LocalNode>()
  private readonly names = new Map<string, number>()

  private cache(n: LocalNode): LocalNode {
    if (this.nodes.size > 200_000) {
      this.nodes.clear()
      this.names.clear()
    }
    this.nodes.set(n.ino, n)
    this.names.set(`${n.parent}/${n.name}`, n.ino)
    return n
  }

  private uncache(ino: number): void {
    const n = this.nodes.get(ino)
    if (!n) return
    this.nodes.delete(ino)
    if (this.names.get(`${n.parent}/${n.name}`) === ino) this.names.delete(`${n.parent}/${n.name}`)
  }

  get(ino: number): LocalNode | undefined {
    const hit = this.nodes.get(ino)
    if (hit) return { ...hit }
    const r = this.q.get.get(ino)
    return r && { ...this.cache(toNode(r)) }
  }

  must(ino: number): LocalNode {
    const n = this.get(ino)
    if (!n) throw xerr('XC_NOT_FOUND', `no local node ${ino}`)
    return n
  }

  child(parent: number, name: string): LocalNode | undefined {
    const ino = this.names.get(`${parent}/${name}`)
    if (ino !== undefined) {
      const hit = this.nodes.get(ino)
      if (hit && hit.parent === parent && hit.name === name) return { ...hit }
    }
    const r = this.q.child.get(parent, name)
    return r && { ...this.cache(toNode(r)) }
  }

  children(parent: number): LocalNode[] {
    return this.q.children.all(parent).map((r) => ({ ...this.cache(toNode(r)) }))
  }

  hasChildren(parent: number): boolean {
    return this.q.hasChildren.get(parent) !== undefined
  }

  byRemote(remoteId: string): LocalNode | undefined {
    const r = this.q.byRemote.get(remoteId)
    return r && toNode(r)
  }

  insert(n: Omit<LocalNode, 'ino' | 'gen'>): LocalNode {
    const info = this.q.insert.run({ ...n, staged: n.staged ? 1 : 0, dirty: n.dirty ? 1 : 0 })
    this.visibleChanged()
    return this.must(Number(info.lastInsertRowid))
  }

  /** Update the named columns of a node. */
  update(ino: number, fields: Partial<Omit<LocalNode, 'ino'>>): void {
    const cols: string[] = []
    const vals: unknown[] = []
    for (const [k, v] of Object.entries(fields)) {
      const col = COLUMNS[k]
      if (!col || v === undefined) continue
      cols.push(`${col} = ?`)
      vals.push(typeof v === 'boolean' ? (v ? 1 : 0) : v)
    }
    if (cols.length === 0) return
    if (Object.keys(fields).some((k) => VISIBLE.has(k))) this.visibleChanged()
    if (Object.keys(fields).some((k) => CONTENT.has(k))) this.contentChanged(ino)
    const sql = `UPDATE nodes SET ${cols.join(', ')} WHERE ino = ?`
    let stmt = this.updates.get(sql)
    if (!stmt) this.updates.set(sql, stmt = this.db.prepare(sql))
    stmt.run(...vals, ino)
    const hit = this.nodes.get(ino)
    if (hit) {
      this.uncache(ino)
      const next = { ...hit }
      for (const [k, v] of Object.entries(fields)) if (v !== undefined && k in COLUMNS) (next as Record<string, unknown>)[k] = v
      this.cache(next)
    }
  }

  move(ino: number, parent: number, name: string, now: number): void {
    this.q.move.run(parent, name, now, ino)
    this.visibleChanged()
    this.uncache(ino)
  }

  detach(ino: number): void {
    this.q.detach.run(ino)
    this.visibleChanged()
    this.uncache(ino)
  }

  drop(ino: number): void {
    this.contentChanged(ino)
    this.q.drop.run(ino)
    this.q.dropShards.run(ino)
    this.visibleChanged()
    this.uncache(ino)
  }

  // Staged shards

  shards(ino: number): Map<number, number | null> {
    return new Map(this.q.shardRows.all(ino).map((r) => [r.idx, r.dirty_gen]))
  }

  /** undefined: not staged; null: staged and clean; a number: dirty since that generation. */
  shard(ino: number, idx: number): number | null | undefined {
    const r = this.q.shardRow.get(ino, idx)
    return r === undefined ? undefined : r.dirty_gen
  }

  markDirty(ino: number, idx: number, gen: number): void {
    this.contentChanged(ino)
    this.q.markShard.run(ino, idx, gen)
  }

  markPresent(ino: number, idx: number): void {
    this.contentChanged(ino)
    this.q.presentShard.run(ino, idx)
  }

  /** After an upload: the shard is clean unless it was written again since `gen`. */
  markClean(ino: number, idx: number, gen: number): void {
    this.q.cleanShard.run(ino, idx, gen)
  }

  dropShardsFrom(ino: number, idx: number): void {
    this.contentChanged(ino)
    this.q.dropShardsFrom.run(ino, idx)
  }

  dropAllShards(ino: number): void {
    this.contentChanged(ino)
    this.q.dropShards.run(ino)
  }

  dirtyShardCount(ino: number): number {
    return this.q.dirtyCount.get(ino)!.n
  }

  // Journal

  enqueue(kind: OpKind, ino: number, parent: number | null = null, name: string | null = null): void {
    this.q.enqueue.run(kind, ino, parent, name, Date.now())
  }

  /** Queue an upload (with where the file is now) unless one is already waiting for it. */
  enqueueUpload(ino: number): boolean {
    if (this.q.hasOp.get(ino, 'upload')) return false
    const n = this.get(ino)
    if (!n || n.parent === 0) return false
    this.q.enqueue.run('upload', ino, n.parent, n.name, Date.now())
    return true
  }

  stagedNodes(): LocalNode[] {
    return this.db.prepare<[], NodeRow>('SELECT * FROM nodes WHERE staged = 1').all().map(toNode)
  }

  /** Files with changes that no queued upload covers (a daemon killed before their close). */
  dirtyWithoutUpload(): number[] {
    return this.db.prepare<[], { ino: number }>(
      "SELECT ino FROM nodes n WHERE dirty = 1 AND parent != 0 AND kind = 'file' AND NOT EXISTS (SELECT 1 FROM ops o WHERE o.ino = n.ino AND o.kind = 'upload')",
    ).all().map((r) => r.ino)
  }

  hasPendingOps(ino: number): boolean {
    return this.q.opsOf.get(ino) !== undefined
  }

  pendingOps(limit: number): Op[] {
    return this.q.pendingOps.all(limit).map((r) => ({ seq: r.seq, kind: r.kind, ino: r.ino, parent: r.parent, name: r.name, at: r.at }))
  }

  doneOp(seq: number): void {
    this.q.doneOp.run(seq)
  }

  opCounts(): { ops: number; uploads: number } {
    const r = this.q.opCount.get()!
    return { ops: r.n, uploads: r.uploads }
  }

  // Settings

  getKv(k: string): string | undefined {
    return this.q.kvGet.get(k)?.v
  }

  setKv(k: string, v: string): void {
    this.q.kvSet.run(k, v)
  }

  stats(): { files: number; dirs: number; bytes: number; staged: number } {
    return this.q.stats.get()!
  }
}
