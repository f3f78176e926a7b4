/**
 * The sync engine: one loop that pushes the local journal to the bridge (write-back) and pulls
 * the bridge's change log into the local state, so this device and every other one converge.
 *
 * Push replays the journal in order (create, upload, move, delete, meta), each op with the parent
 * and name it had when it happened. Uploads re-encrypt and send only the dirty shards; the rest of
 * the version is the previous one's shards, under the same file key. A commit is a compare-and-swap
 * on the version this device started from: if another device committed first, this device's bytes
 * become "NAME (conflicted copy …)" beside it, so neither edit is lost.
 *
 * Pull applies remote changes to nodes that have no local work pending; a node with pending work
 * keeps its local state until its ops are pushed (and its conflict, if any, is resolved then).
 * Push and pull never run at the same time: a pull must not see this device's own create before
 * the local row knows its remote id.
 */
import { toXError } from '../../shared/errors.js'
import { SHARD_SIZE, type TreeNode } from '../../shared/protocol.js'
import { shardCount } from '../../shared/sharding.js'
import { decryptMeta, decryptName } from '../../shared/crypto/index.js'
import type { BridgeClient } from '../remote/bridge-client.js'
import type { RemoteTree } from '../tree/remote-tree.js'
import { uploadVersion, type ShardSource, type UploadOptions } from '../transfer/upload.js'
import { ROOT_INO, type LocalNode, type LocalState, type Op } from '../state/local-state.js'
import type { RemoteContent } from '../vfs/remote-content.js'
import type { Staging } from '../vfs/staging.js'
import type { Vfs } from '../vfs/vfs.js'

export interface SyncOptions {
  /**
   * Changes wait this long in the journal before they are pushed (a burst of writes, an untar, a
   * save that writes then renames, all settle first and do not compete with the push for CPU).
   */
  writeBackDelayMs?: number
  /**
   * While applications keep using the mount (an untar, a build), queued uploads also wait for
   * this much quiet, so they do not take the CPU from the work in progress; never longer than
   * maxDelayMs after the change.
   */
  quietMs?: number
  maxDelayMs?: number
  /** How often to pull when nothing happens locally. */
  pullEveryMs?: number
  log?: (msg: string, err?: unknown) => void
}

export interface SyncStatus {
  pendingOps: number
  pendingUploads: number
  uploading: { path: string; bytes: number; done: number } | null
  lastPull: number | null
  lastError: string | null
  cursor: number
  /** Shards encrypted and sent by uploads (each to all its mirrors), and shards reused unchanged. */
  shardsUploaded: number
  shardsReused: number
}

export class SyncEngine {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | null = null
  private again = false
  private stopped = false
  private backoffMs = 0
  private nextPushIn: number | undefined
  private uploading: SyncStatus['uploading'] = null
  private lastPull: number | null = null
  private lastError: string | null = null
  private readonly idleWaiters: Array<() => void> = []
  /** Remote nodes whose changes were skipped while local work on them was pending. */
  private readonly stale = new Set<string>()
  private shardsUploaded = 0
  private shardsReused = 0

  constructor(
    private readonly bridge: BridgeClient,
    private readonly tree: RemoteTree,
    private readonly fileWrapKey: Buffer,
    private readonly state: LocalState,
    private readonly vfs: Vfs,
    private readonly staging: Staging,
    private readonly remote: RemoteContent,
    private readonly opts: SyncOptions = {},
  ) {}

  start(): void {
    this.kick()
  }

  /** Run a round soon (new local work, or time to pull). */
  kick(delayMs = 0): void {
    if (this.stopped) return
    if (this.running) { this.again = true; return }
    // Never push a planned round later: a steady stream of changes must not starve it.
    const at = Date.now() + delayMs
    if (this.timer && this.scheduledAt <= at) return
    clearTimeout(this.timer)
    this.scheduledAt = at
    this.timer = setTimeout(() => { this.timer = undefined; void this.round() }, delayMs)
  }

  private scheduledAt = 0

  private async round(): Promise<void> {
    if (this.running || this.stopped) return
    this.again = false
    this.running = (async () => {
      try {
        await this.push()
        await this.pull()
        this.backoffMs = 0
        this.lastError = null
      } catch (err) {
        const x = toXError(err)
        this.lastError = `${x.code}: ${x.message}`
        this.opts.log?.('sync round failed; will retry', err)
        this.backoffMs = Math.min(30_000, Math.max(500, this.backoffMs * 2))
      }
    })()
    await this.running
    this.running = null
    if (this.state.opCounts().ops === 0) for (const w of this.idleWaiters.splice(0)) w()
    if (this.stopped) return
    const pullEvery = this.opts.pullEveryMs ?? 1000
    if (this.backoffMs > 0) this.kick(this.backoffMs)
    else if (this.again && (this.opts.writeBackDelayMs ?? 2000) === 0) this.kick(0)
    else this.kick(Math.min(pullEvery, this.nextPushIn ?? pullEvery))
    this.nextPushIn = undefined
  }

  /** Resolve once the journal is empty (or `timeoutMs` passes: false). */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true
    const deadline = Date.now() + timeoutMs
    while (this.state.opCounts().ops > 0) {
      if (Date.now() >= deadline) return false
      this.kick()
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(500, Math.max(1, deadline - Date.now())))
        this.idleWaiters.push(() => { clearTimeout(t); resolve() })
      })
    }
    return true
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }

  status(): SyncStatus {
    const c = this.state.opCounts()
    return {
      pendingOps: c.ops, pendingUploads: c.uploads, uploading: this.uploading, lastPull: this.lastPull,
      lastError: this.lastError, cursor: Number(this.state.getKv('cursor') ?? 0),
      shardsUploaded: this.shardsUploaded, shardsReused: this.shardsReused,
    }
  }

  // ---- push --------------------------------------------------------------------------------

  private draining = false

  private async push(): Promise<void> {
    for (;;) {
      if (this.stopped) return
      const [op] = this.state.pendingOps(1)
      if (!op) return
      const now = Date.now()
      const due = op.at + (this.opts.writeBackDelayMs ?? 2000)
      const quietAt = this.vfs.lastActivity + (this.opts.quietMs ?? 700)
      const wait = Math.min(Math.max(due, quietAt), op.at + (this.opts.maxDelayMs ?? 30_000)) - now
      if (wait > 0 && !this.draining) {
        this.nextPushIn = wait
        return
      }
      await this.apply(op)
      this.state.doneOp(op.seq)
    }
  }

  private async apply(op: Op): Promise<void> {
    const node = this.state.get(op.ino)
    if (!node) return
    switch (op.kind) {
      case 'create': return this.applyCreate(node, op)
      case 'upload': return this.applyUpload(node, op)
      case 'move': return this.applyMove(node, op)
      case 'delete': return this.applyDelete(node)
      case 'meta': return this.applyMeta(node)
    }
  }

  private metaOf(node: LocalNode): string {
    const m: Record<string, unknown> = { mode: node.mode, mtime: Math.round(node.mtime) }
    if (node.kind === 'symlink') m.target = node.target
    return this.tree.meta(m)
  }

  /** The bridge id of a local folder, creating it (and its parents) there first if needed. */
  private async remoteDir(ino: number): Promise<string | null> {
    const dir = this.state.get(ino)
    if (!dir) return null
    if (dir.remoteId) return dir.remoteId
    if (ino === ROOT_INO) {
      const root = await this.tree.root()
      this.state.update(ROOT_INO, { remoteId: root.id, remoteRev: root.revision })
      return root.id
    }
    if (dir.parent === 0) return null
    await this.applyCreate(dir, null)
    return this.state.get(ino)?.remoteId ?? null
  }

  /** Where a node goes: the parent and name an op captured, else where it is now. */
  private async placeOf(node: LocalNode, op: Pick<Op, 'parent' | 'name'> | null): Promise<{ parentId: string; name: string } | null> {
    if (op?.parent != null && op.name != null) {
      const parentId = await this.remoteDir(op.parent)
      if (parentId) return { parentId, name: op.name }
    }
    if (node.parent === 0) return null
    const parentId = await this.remoteDir(node.parent)
    return parentId ? { parentId, name: node.name } : null
  }

  private async applyCreate(node: LocalNode, op: Op | null): Promise<void> {
    if (node.remoteId || node.parent === 0) return
    if (node.kind === 'file') return this.applyUpload(node, op)
    const place = await this.placeOf(node, op)
    if (!place) return
    let created: TreeNode
    try {
      created = await this.bridge.createNode({ parentId: place.parentId, ...this.tree.nameFields(place.parentId, place.name), kind: node.kind, encMeta: this.metaOf(node) })
    } catch (err) {
      const x = toXError(err)
      if (x.code !== 'XC_EXISTS') throw err
      // The name was taken on the bridge meanwhile (another device). Two folders merge; anything
      // else gets this device's node under a conflicted-copy name.
      const existing = await this.bridge.lookup(place.parentId, this.tree.nameFields(place.parentId, place.name).nameHash)
      if (existing && existing.kind === 'dir' && node.kind === 'dir' && !this.state.byRemote(existing.id)) {
        this.state.update(node.ino, { remoteId: existing.id, remoteRev: existing.revision })
        return
      }
      const name = conflictName(place.name)
      created = await this.bridge.createNode({ parentId: place.parentId, ...this.tree.nameFields(place.parentId, name), kind: node.kind, encMeta: this.metaOf(node) })
      if (node.parent !== 0 && !this.state.child(node.parent, name)) this.state.move(node.ino, node.parent, name, Date.now())
    }
    this.state.update(node.ino, { remoteId: created.id, remoteRev: created.revision })
  }

  private async applyUpload(node: LocalNode, op: Pick<Op, 'parent' | 'name'> | null): Promise<void> {
    if (node.parent === 0) return
    if (!node.dirty && node.remoteId) return
    const place = node.remoteId ? null : await this.placeOf(node, op)
    if (!node.remoteId && !place) return
    const oldGen = node.gen
    this.state.update(node.ino, { gen: oldGen + 1 })
    const size = node.staged ? this.staging.size(node.ino) : node.size
    const rows = this.state.shards(node.ino)
    let base: UploadOptions['base']
    const reused = new Set<number>()
    const count = shardCount(size)
    // Every byte of the file is in staging (or it never had a network version): it can be
    // committed as a new file whatever happened to its base on the bridge.
    const wholeLocal = !node.versionId || Array.from({ length: count }, (_, i) => i).every((i) => rows.has(i) || i * SHARD_SIZE >= node.baseSize)
    let fetcher: Awaited<ReturnType<RemoteContent['fetcher']>> | undefined
    if (node.versionId && node.remoteId) {
      try {
        fetcher = await this.remote.fetcher(node.remoteId, node.versionId)
      } catch (err) {
        const x = toXError(err)
        if ((x.code !== 'XC_CONFLICT' && x.code !== 'XC_NOT_FOUND') || !wholeLocal) {
          if (x.code === 'XC_CONFLICT' || x.code === 'XC_NOT_FOUND') {
            // The version this edit started from is gone from the bridge and part of the file
            // was never staged: the edit cannot be rebuilt. Keep the local rows (the file stays
            // dirty, so pulls leave it alone) and say so, rather than retry forever.
            this.opts.log?.(`${this.pathOf(node)}: its base version changed on another device before this device's partial edit was pushed; the edit stays local`)
            this.lastError = `XC_CONFLICT: ${this.pathOf(node)} kept local`
            return
          }
          throw err
        }
      }
    }
    if (fetcher) {
      const shards = fetcher.manifest.shards
      base = {
        fileKey: fetcher.fileKey,
        reuse: (index) => {
          const row = rows.get(index)
          if (row !== undefined && row !== null) return undefined // dirty
          const kept = shards[index]
          if (!kept || index * SHARD_SIZE + kept.size > node.baseSize) return undefined
          reused.add(index)
          return kept
        },
      }
    }
    const source: ShardSource = {
      size,
      read: (index, length) => this.vfs.readNode(node.ino, index * SHARD_SIZE, length),
    }
    const path = this.pathOf(node)
    this.uploading = { path, bytes: size, done: 0 }
    const fresh = this.state.must(node.ino)
    const encMeta = this.metaOf(fresh)
    try {
      let res
      try {
        const target = node.remoteId ? { nodeId: node.remoteId } : { parentId: place!.parentId, ...this.tree.nameFields(place!.parentId, place!.name), encMeta }
        res = await uploadVersion(this.bridge, this.fileWrapKey, source, target, node.versionId, {
          base, onProgress: (done) => { if (this.uploading) this.uploading.done = done },
        })
      } catch (err) {
        const x = toXError(err)
        if (x.code !== 'XC_CONFLICT' && x.code !== 'XC_EXISTS' && x.code !== 'XC_NOT_FOUND') throw err
        // Another device wrote this file (or took the name) first: keep these bytes beside it.
        // Removed on another device meanwhile: this device's edit brings it back, same name.
        const removed = x.code === 'XC_NOT_FOUND'
        if (removed && !wholeLocal) throw err
        const parentIno = node.parent
        const parentId = await this.remoteDir(parentIno)
        if (!parentId) return
        const name = removed ? node.name : conflictName(place?.name ?? node.name)
        reused.clear()
        res = await uploadVersion(this.bridge, this.fileWrapKey, source, { parentId, ...this.tree.nameFields(parentId, name), encMeta }, null, { base: removed ? undefined : base })
        this.opts.log?.(removed ? `${path}: removed on another device while changed here; kept this device's version` : `${path}: changed on another device too; kept this device's version as "${name}"`)
        this.state.transaction(() => {
          if (!this.state.child(parentIno, name)) this.state.move(node.ino, parentIno, name, Date.now())
          // The original name keeps the other device's version: fetch it after this push.
          if (node.remoteId) this.stale.add(node.remoteId)
          this.state.update(node.ino, { remoteId: null, versionId: null })
        })
      }
      this.shardsReused += reused.size
      this.shardsUploaded += count - reused.size
      if (node.remoteId && res.node.id === node.remoteId) {
        // A new version keeps the node's old attributes on the bridge; send the current ones.
        try {
          const updated = await this.bridge.update(node.remoteId, { encMeta })
          res.node.revision = updated.revision
        } catch { /* attributes follow with the next change */ }
      }
      this.state.transaction(() => {
        for (const [idx, gen] of rows) if (gen !== null && gen <= oldGen) this.state.markClean(node.ino, idx, gen)
        const now = this.state.must(node.ino)
        const stillDirty = this.state.dirtyShardCount(node.ino) > 0 || (now.staged && this.staging.size(node.ino) !== size)
        if (node.versionId && node.versionId !== res.versionId) this.remote.forget(node.versionId)
        this.state.update(node.ino, {
          remoteId: res.node.id, remoteRev: res.node.revision, versionId: res.versionId, baseSize: size, dirty: stillDirty,
        })
        // Written again while this upload ran: the op being applied still counts as pending, so
        // queue the next upload explicitly.
        if (stillDirty && !this.vfs.hasWriters(node.ino)) {
          const n = this.state.must(node.ino)
          this.state.enqueue('upload', node.ino, n.parent, n.name)
        }
        // A new file was uploaded whole from staging: every shard there is the committed one.
        if (!base && now.staged) for (let i = 0; i < shardCount(size); i++) this.state.markPresent(node.ino, i)
      })
    } finally {
      this.uploading = null
    }
  }

  private async applyMove(node: LocalNode, op: Op): Promise<void> {
    if (!node.remoteId || node.parent === 0 || op.parent == null || op.name == null) return
    const parentId = await this.remoteDir(op.parent)
    if (!parentId) return
    try {
      const moved = await this.bridge.move(node.remoteId, { parentId, ...this.tree.nameFields(parentId, op.name), replace: true })
      this.state.update(node.ino, { remoteRev: moved.revision })
    } catch (err) {
      const x = toXError(err)
      if (x.code === 'XC_NOT_FOUND') return // removed on another device; pull settles it
      if (x.code === 'XC_NOT_EMPTY' || x.code === 'XC_IS_DIR' || x.code === 'XC_NOT_DIR') {
        this.opts.log?.(`${this.pathOf(node)}: the bridge refused the rename (${x.code}); another device changed the target`)
        return
      }
      throw err
    }
  }

  private async applyDelete(node: LocalNode): Promise<void> {
    if (node.remoteId) {
      try {
        await this.bridge.deleteNode(node.remoteId)
      } catch (err) {
        const x = toXError(err)
        if (x.code !== 'XC_NOT_FOUND' && x.code !== 'XC_NOT_EMPTY') throw err
      }
    }
    if (node.versionId) this.remote.forget(node.versionId)
    if (!this.vfs.isOpen(node.ino)) {
      this.state.drop(node.ino)
      this.staging.remove(node.ino)
    } else {
      this.state.update(node.ino, { remoteId: null, versionId: null })
    }
  }

  private async applyMeta(node: LocalNode): Promise<void> {
    if (!node.remoteId || node.parent === 0) return
    try {
      const updated = await this.bridge.update(node.remoteId, { encMeta: this.metaOf(node) })
      this.state.update(node.ino, { remoteRev: updated.revision })
    } catch (err) {
      if (toXError(err).code !== 'XC_NOT_FOUND') throw err
    }
  }

  private pathOf(node: LocalNode): string {
    const parts: string[] = []
    for (let n: LocalNode | undefined = node; n && n.ino !== ROOT_INO && n.parent !== 0; n = this.state.get(n.parent)) parts.unshift(n.name)
    return '/' + parts.join('/')
  }

  // ---- pull --------------------------------------------------------------------------------

  async pull(): Promise<void> {
    let cursor = Number(this.state.getKv('cursor') ?? 0)
    for (;;) {
      const res = await this.bridge.changes(cursor)
      this.state.transaction(() => {
        for (const c of res.changes) {
          if (c.op === 'upsert' && c.node) this.applyRemoteUpsert(c.node)
          else if (c.op === 'delete') this.applyRemoteDelete(c.nodeId)
        }
        cursor = res.cursor
        this.state.setKv('cursor', String(cursor))
      })
      if (!res.more) break
    }
    await this.refreshStale()
    this.lastPull = Date.now()
  }

  /** Re-read nodes whose remote changes were skipped, now that their local work is done. */
  private async refreshStale(): Promise<void> {
    for (const id of [...this.stale]) {
      const local = this.state.byRemote(id)
      if (local && this.busy(local)) continue
      this.stale.delete(id)
      let r: TreeNode | null
      try {
        r = await this.bridge.node(id)
      } catch (err) {
        if (toXError(err).code !== 'XC_NOT_FOUND') { this.stale.add(id); throw err }
        r = null
      }
      this.state.transaction(() => {
        if (r) this.applyRemoteUpsert(r, true)
        else this.applyRemoteDelete(id)
      })
    }
  }

  private busy(n: LocalNode): boolean {
    return n.dirty || this.state.hasPendingOps(n.ino) || this.vfs.hasWriters(n.ino)
  }

  private applyRemoteUpsert(r: TreeNode, force = false): void {
    if (r.parentId === null) {
      const root = this.state.must(ROOT_INO)
      if (!root.remoteId) this.state.update(ROOT_INO, { remoteId: r.id, remoteRev: r.revision })
      return
    }
    const local = this.state.byRemote(r.id)
    if (local && this.busy(local)) { this.stale.add(r.id); return }
    if (local && r.revision <= local.remoteRev && !force) return
    const parent = this.state.byRemote(r.parentId)
    if (!parent || parent.parent === 0 && parent.ino !== ROOT_INO) return
    let name: string
    let meta: Record<string, unknown> = {}
    try {
      name = decryptName(this.tree.keys, r.encName)
      if (r.encMeta) meta = decryptMeta(this.tree.keys, r.encMeta)
    } catch (err) {
      this.opts.log?.(`ignoring remote node ${r.id}: its name or attributes do not decrypt`, err)
      return
    }
    const mode = typeof meta.mode === 'number' ? meta.mode & 0o7777 : r.kind === 'dir' ? 0o755 : 0o644
    const mtime = typeof meta.mtime === 'number' ? meta.mtime : r.mtime
    const target = r.kind === 'symlink' && typeof meta.target === 'string' ? meta.target : null
    const occupant = this.state.child(parent.ino, name)
    if (occupant && occupant.ino !== local?.ino) {
      if (occupant.remoteId && !this.busy(occupant)) {
        // The bridge says another node now has this name; the occupant moved or went away and
        // its own change is further down the log. Park it until then.
        this.state.detach(occupant.ino)
      } else {
        name = conflictName(name)
      }
    }
    if (local) {
      if (local.parent !== parent.ino || local.name !== name) this.state.move(local.ino, parent.ino, name, Date.now())
      const fields: Partial<LocalNode> = { mode, mtime, target, remoteRev: r.revision }
      if (r.kind === 'file' && r.versionId !== local.versionId) {
        if (local.versionId) this.remote.forget(local.versionId)
        if (local.staged && !this.vfs.isOpen(local.ino)) this.staging.remove(local.ino)
        this.state.dropAllShards(local.ino)
        Object.assign(fields, { versionId: r.versionId, size: r.size, baseSize: r.size, staged: local.staged && this.vfs.isOpen(local.ino) })
        if (fields.staged) this.staging.create(local.ino, 0)
      }
      this.state.update(local.ino, fields)
      return
    }
    this.state.insert({
      parent: parent.ino, name, kind: r.kind, mode, size: r.kind === 'file' ? r.size : 0, mtime, ctime: r.mtime, target,
      remoteId: r.id, remoteRev: r.revision, versionId: r.versionId, baseSize: r.kind === 'file' ? r.size : 0, staged: false, dirty: false,
    })
  }

  private applyRemoteDelete(remoteId: string): void {
    const local = this.state.byRemote(remoteId)
    if (!local || local.ino === ROOT_INO) return
    if (this.busy(local)) { this.stale.add(remoteId); return }
    if (this.state.hasChildren(local.ino)) return
    if (local.versionId) this.remote.forget(local.versionId)
    if (this.vfs.isOpen(local.ino)) {
      this.state.detach(local.ino)
      this.state.update(local.ino, { remoteId: null, versionId: null })
      return
    }
    this.state.drop(local.ino)
    this.staging.remove(local.ino)
  }
}

/** "report.txt" → "report (conflicted copy 2026-11-28 031502).txt". */
export function conflictName(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace('T', ' ').replace(/:/g, '').slice(0, 17)
  const dot = name.lastIndexOf('.')
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
  const suffix = ` (conflicted copy ${stamp})`
  const room = 255 - Buffer.byteLength(suffix + ext)
  let s = stem
  while (Buffer.byteLength(s) > room) s = s.slice(0, -1)
  return `${s}${suffix}${ext}`
}

