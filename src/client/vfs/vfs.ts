/**
 * The VFS: POSIX file-system semantics over the local state, staging and the remote content,
 * speaking errno (FsError). The FUSE adapter only translates calls; every decision is here.
 *
 * Words: a **handle** (fh) is an open file; **staging** holds bytes written locally; a file's
 * content is its base version from the network overlaid by staged shards (see local-state.ts).
 * Invariants:
 * - Namespace calls (lookup, getattr, readdir, mkdir, rename, unlink, ...) touch only SQLite and
 *   journal what the bridge must learn; the write-back engine applies the journal later.
 * - Before a write lands in staging, the shards it touches are recorded dirty, and any part of a
 *   touched shard that the write does not cover is first copied from the base version, so a
 *   staged shard is always complete.
 * - A file is queued for upload when its last writer closes it or fsyncs it, never before: only
 *   closed (or fsynced) content is committed, and it is never lost once closed.
 */
import { XError } from '../../shared/errors.js'
import { SHARD_SIZE } from '../../shared/protocol.js'
import { NAME_MAX } from '../tree/paths.js'
import { ROOT_INO, type LocalNode, type LocalState, type NodeKind } from '../state/local-state.js'
import { fsErr, toFsError } from './errno.js'
import type { RemoteContent } from './remote-content.js'
import type { Staging } from './staging.js'

export const S_IFDIR = 0o040000
export const S_IFREG = 0o100000
export const S_IFLNK = 0o120000

const O_ACCMODE = 3
const O_WRONLY = 1
const O_RDWR = 2
const O_CREAT = 0o100
const O_EXCL = 0o200
const O_TRUNC = 0o1000
const O_APPEND = 0o2000

/** Largest file the format describes comfortably (2^40 bytes = 1 TiB). */
const MAX_FILE_SIZE = 2 ** 40

export interface Attr {
  ino: number
  mode: number
  size: number
  nlink: number
  uid: number
  gid: number
  atime: Date
  mtime: Date
  ctime: Date
  blocks: number
  blksize: number
}

export interface StatFs {
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  favail: number
  namemax: number
}

interface Handle {
  ino: number
  readable: boolean
  writable: boolean
  append: boolean
  /** Wrote since the last flush/fsync. */
  wrote: boolean
  /** Its writes go straight to the staging file, below JavaScript (see FastWrites). */
  fast?: boolean
  /** Handed to fastReads (until its file's content changes or it is released). */
  fastRead?: boolean
}

/**
 * Writes that skip JavaScript: the FUSE adapter's native side writes them into the staging file
 * itself (native-deps/attr-cache.c) and keeps what they covered, which the VFS takes before
 * anything that depends on the file's size or shards.
 */
export interface FastWrites {
  /** Writes through `fh` go to descriptor `fd` from now on, up to `maxSize`; false if refused. */
  open(fh: number, fd: number, maxSize: number): boolean
  /** The byte range writes through `fh` covered since the last call, and the time of the last. */
  take(fh: number): { lo: number; hi: number; at: number } | null
  /** Forget `fh` (at release, after a last take). */
  close(fh: number): void
  /** Wall-clock time of the last write answered natively (0 if none). */
  lastWriteAt(): number
}

/**
 * Reads that skip JavaScript: the FUSE adapter's native side copies them from shards in memory
 * (the RemoteContent announces those). A handle is handed over for one shard of one version at a
 * time, only while its file is exactly that version; the VFS takes it back (`forget`) in the same
 * synchronous step as any change to the file's content, and at release.
 */
export interface FastReads {
  /** Reads through `fh` within shard `idx` of `content` (`size` bytes in all) may be answered natively. */
  handle(fh: number, content: number, size: number, shardSize: number, idx: number): boolean
  forget(fh: number): void
}

export interface VfsHooks {
  /** A file's content was closed or fsynced with changes: queue it for upload. */
  contentClosed(ino: number): void
  /** The journal has new work. */
  journalChanged(): void
  /** Capacity for statfs: bytes the account can still use and bytes it uses. */
  capacity(): { total: number; used: number }
}

export interface VfsOptions {
  uid?: number
  gid?: number
  shardSize?: number
}

function kindBits(kind: NodeKind): number {
  return kind === 'dir' ? S_IFDIR : kind === 'symlink' ? S_IFLNK : S_IFREG
}

function checkName(name: string): void {
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw fsErr('ENAMETOOLONG', `a name is longer than ${NAME_MAX} bytes`)
}

function split(path: string): string[] {
  if (path.length > 4096) throw fsErr('ENAMETOOLONG')
  const parts = path.split('/').filter((p) => p !== '')
  for (const p of parts) checkName(p)
  return parts
}

export class Vfs {
  private readonly handles = new Map<number, Handle>()
  private nextFh = 1
  /** Open handles per inode (for unlink-while-open and upload timing). */
  private readonly openCount = new Map<number, number>()
  /** Writers per inode. */
  private readonly writers = new Map<number, number>()
  private readonly uid: number
  private readonly gid: number
  private readonly shardSize: number

  constructor(
    readonly state: LocalState,
    readonly staging: Staging,
    readonly remote: RemoteContent,
    private readonly hooks: VfsHooks,
    opts: VfsOptions = {},
  ) {
    state.contentChanged = (ino) => this.forgetFastReads(ino)
    this.uid = opts.uid ?? process.getuid?.() ?? 0
    this.gid = opts.gid ?? process.getgid?.() ?? 0
    this.shardSize = opts.shardSize ?? SHARD_SIZE
  }

  // ---- namespace ----------------------------------------------------------------------------

  /** When an application last changed something (for the sync engine's quiet rule). */
  get lastActivity(): number {
    return Math.max(this.activity, this.fastWrites?.lastWriteAt() ?? 0)
  }

  set lastActivity(ms: number) {
    this.activity = ms
  }

  private activity = 0

  /**
   * Set by the FUSE adapter when its native side can take writes: handles that write a file's
   * every byte anew (created, or truncated to zero at open) are handed over at open.
   */
  fastWrites: FastWrites | null = null

  /** Open handles handed to fastWrites, by node. */
  private readonly fastByIno = new Map<number, Set<number>>()

  /** Set by the FUSE adapter when its native side can answer reads from shards in memory. */
  fastReads: FastReads | null = null

  /** Handles handed to fastReads, by node. */
  private readonly fastReadByIno = new Map<number, Set<number>>()

  lookup(path: string): LocalNode {
    let node = this.state.must(ROOT_INO)
    for (const name of split(path)) {
      if (node.kind !== 'dir') throw fsErr('ENOTDIR', path)
      const next = this.state.child(node.ino, name)
      if (!next) throw fsErr('ENOENT', path)
      node = next
    }
    return node
  }

  /** The parent folder of `path` and the last name (which must be a valid name). */
  private parentOf(path: string): { parent: LocalNode; name: string } {
    this.lastActivity = Date.now()
    const parts = split(path)
    const name = parts.pop()
    if (name === undefined) throw fsErr('EEXIST', '/')
    let node = this.state.must(ROOT_INO)
    for (const p of parts) {
      if (node.kind !== 'dir') throw fsErr('ENOTDIR', path)
      const next = this.state.child(node.ino, p)
      if (!next) throw fsErr('ENOENT', path)
      node = next
    }
    if (node.kind !== 'dir') throw fsErr('ENOTDIR', path)
    return { parent: node, name }
  }

  attrOf(n: LocalNode): Attr {
    const size = n.kind === 'symlink' ? Buffer.byteLength(n.target ?? '') : n.kind === 'dir' ? 4096 : this.sizeOf(n)
    return {
      ino: n.ino,
      mode: kindBits(n.kind) | (n.mode & 0o7777),
      size,
      nlink: n.kind === 'dir' ? 2 : 1,
      uid: this.uid,
      gid: this.gid,
      atime: new Date(this.liveMtime.get(n.ino) ?? n.mtime),
      mtime: new Date(this.liveMtime.get(n.ino) ?? n.mtime),
      ctime: new Date(n.ctime),
      blocks: Math.ceil(size / 512),
      blksize: 4096,
    }
  }

  /** A file's size: its staging file's length while staged (writes move it), else the row. */
  private sizeOf(n: LocalNode): number {
    this.takeFastWrites(n.ino)
    return this.knownSize(n)
  }

  /** sizeOf without first taking the writes the native side took. */
  private knownSize(n: LocalNode): number {
    return n.staged ? this.liveSize.get(n.ino) ?? n.size : n.size
  }

  /** Sizes of staged files with open writers, ahead of the row (persisted at flush/release). */
  private readonly liveSize = new Map<number, number>()
  /** Time of the last write to a file, ahead of the row (persisted with the size). */
  private readonly liveMtime = new Map<number, number>()

  getattr(path: string): Attr {
    return this.attrOf(this.lookup(path))
  }

  fgetattr(fh: number): Attr {
    return this.attrOf(this.state.must(this.handle(fh).ino))
  }

  readdir(path: string): { names: string[]; attrs: Attr[] } {
    const dir = this.lookup(path)
    if (dir.kind !== 'dir') throw fsErr('ENOTDIR', path)
    const children = this.state.children(dir.ino)
    return { names: ['.', '..', ...children.map((c) => c.name)], attrs: [this.attrOf(dir), this.attrOf(dir), ...children.map((c) => this.attrOf(c))] }
  }

  mkdir(path: string, mode: number): void {
    const { parent, name } = this.parentOf(path)
    const now = Date.now()
    this.state.transaction(() => {
      if (this.state.child(parent.ino, name)) throw fsErr('EEXIST', path)
      const node = this.state.insert({
        parent: parent.ino, name, kind: 'dir', mode: mode & 0o7777, size: 0, mtime: now, ctime: now, target: null,
        remoteId: null, remoteRev: 0, versionId: null, baseSize: 0, staged: false, dirty: false,
      })
      this.state.enqueue('create', node.ino, parent.ino, name)
      this.touchDir(parent.ino, now)
    })
    this.hooks.journalChanged()
  }

  rmdir(path: string): void {
    this.lastActivity = Date.now()
    const node = this.lookup(path)
    if (node.ino === ROOT_INO) throw fsErr('EBUSY', '/')
    if (node.kind !== 'dir') throw fsErr('ENOTDIR', path)
    this.state.transaction(() => {
      if (this.state.hasChildren(node.ino)) throw fsErr('ENOTEMPTY', path)
      this.removeNode(node)
    })
    this.hooks.journalChanged()
  }

  unlink(path: string): void {
    this.lastActivity = Date.now()
    const node = this.lookup(path)
    if (node.kind === 'dir') throw fsErr('EISDIR', path)
    this.state.transaction(() => this.removeNode(node))
    this.hooks.journalChanged()
  }

  /** Detach a node and journal its removal; staging goes when no handle holds it any more. */
  private removeNode(node: LocalNode): void {
    const now = Date.now()
    this.state.detach(node.ino)
    this.state.enqueue('delete', node.ino)
    this.touchDir(node.parent, now)
  }

  rename(src: string, dst: string): void {
    const node = this.lookup(src)
    if (node.ino === ROOT_INO) throw fsErr('EBUSY', src)
    const { parent, name } = this.parentOf(dst)
    const now = Date.now()
    this.state.transaction(() => {
      const existing = this.state.child(parent.ino, name)
      if (existing?.ino === node.ino) return
      if (node.kind === 'dir') {
        // A folder cannot move into itself or below itself.
        for (let p: LocalNode | undefined = parent; p; p = p.parent ? this.state.get(p.parent) : undefined) {
          if (p.ino === node.ino) throw fsErr('EINVAL', `cannot move ${src} into itself`)
          if (p.ino === ROOT_INO) break
        }
      }
      if (existing) {
        if (existing.kind === 'dir' && node.kind !== 'dir') throw fsErr('EISDIR', dst)
        if (existing.kind !== 'dir' && node.kind === 'dir') throw fsErr('ENOTDIR', dst)
        if (existing.kind === 'dir' && this.state.hasChildren(existing.ino)) throw fsErr('ENOTEMPTY', dst)
        this.removeNode(existing)
      }
      this.state.move(node.ino, parent.ino, name, now)
      this.state.enqueue('move', node.ino, parent.ino, name)
      this.touchDir(node.parent, now)
      if (parent.ino !== node.parent) this.touchDir(parent.ino, now)
    })
    this.hooks.journalChanged()
  }

  symlink(target: string, path: string): void {
    if (target.length === 0 || Buffer.byteLength(target) > 4095) throw fsErr('EINVAL', 'symlink target')
    const { parent, name } = this.parentOf(path)
    const now = Date.now()
    this.state.transaction(() => {
      if (this.state.child(parent.ino, name)) throw fsErr('EEXIST', path)
      const node = this.state.insert({
        parent: parent.ino, name, kind: 'symlink', mode: 0o777, size: 0, mtime: now, ctime: now, target,
        remoteId: null, remoteRev: 0, versionId: null, baseSize: 0, staged: false, dirty: false,
      })
      this.state.enqueue('create', node.ino, parent.ino, name)
      this.touchDir(parent.ino, now)
    })
    this.hooks.journalChanged()
  }

  readlink(path: string): string {
    const node = this.lookup(path)
    if (node.kind !== 'symlink') throw fsErr('EINVAL', `${path} is not a symbolic link`)
    return node.target ?? ''
  }

  chmod(path: string, mode: number): void {
    this.lastActivity = Date.now()
    const node = this.lookup(path)
    this.state.update(node.ino, { mode: mode & 0o7777, ctime: Date.now() })
    this.metaChanged(node)
  }

  utimens(path: string, _atime: number, mtime: number): void {
    this.lastActivity = Date.now()
    const node = this.lookup(path)
    this.liveMtime.delete(node.ino)
    this.state.visibleChanged()
    this.state.update(node.ino, { mtime, ctime: Date.now() })
    this.metaChanged(node)
  }

  private metaChanged(node: LocalNode): void {
    // A file whose content is about to be uploaded carries its attributes with it.
    if (node.kind === 'file' && (this.writers.get(node.ino) ?? 0) > 0) return
    this.state.enqueue('meta', node.ino)
    this.hooks.journalChanged()
  }

  private touchDir(ino: number, now: number): void {
    if (ino !== 0) this.state.update(ino, { mtime: now, ctime: now })
  }

  statfs(): StatFs {
    const { total, used } = this.hooks.capacity()
    const bsize = 4096
    const blocks = Math.max(1, Math.floor(total / bsize))
    const free = Math.max(0, Math.floor((total - used) / bsize))
    const files = this.state.stats()
    return { bsize, frsize: bsize, blocks, bfree: free, bavail: free, files: files.files + files.dirs + 1_000_000, ffree: 1_000_000, favail: 1_000_000, namemax: NAME_MAX }
  }

  // ---- files --------------------------------------------------------------------------------

  private handle(fh: number): Handle {
    const h = this.handles.get(fh)
    if (!h) throw fsErr('EBADF')
    return h
  }

  async create(path: string, mode: number, flags = O_WRONLY | O_CREAT): Promise<number> {
    const { parent, name } = this.parentOf(path)
    const existing = this.state.child(parent.ino, name)
    if (existing) {
      if (flags & O_EXCL) throw fsErr('EEXIST', path)
      return this.open(path, flags | O_TRUNC)
    }
    const now = Date.now()
    const node = this.state.transaction(() => {
      const n = this.state.insert({
        parent: parent.ino, name, kind: 'file', mode: mode & 0o7777, size: 0, mtime: now, ctime: now, target: null,
        remoteId: null, remoteRev: 0, versionId: null, baseSize: 0, staged: true, dirty: true,
      })
      this.touchDir(parent.ino, now)
      return n
    })
    this.staging.createEmpty(node.ino)
    // A new empty file is content too: it is uploaded when closed, even if nothing is written.
    const fh = this.openHandle(node, (flags & O_ACCMODE) === O_RDWR ? O_RDWR : O_WRONLY, true)
    this.handOver(fh)
    return fh
  }

  async open(path: string, flags: number): Promise<number> {
    const node = this.lookup(path)
    if (node.kind === 'dir') {
      if ((flags & O_ACCMODE) !== 0) throw fsErr('EISDIR', path)
      return this.openHandle(node, flags, false)
    }
    if (node.kind === 'symlink') throw fsErr('ELOOP', path)
    const fh = this.openHandle(node, flags, false)
    if ((flags & O_TRUNC) && (flags & O_ACCMODE) !== 0) {
      try {
        await this.truncateNode(node.ino, 0)
        this.handle(fh).wrote = true
      } catch (err) {
        this.release(fh)
        throw err
      }
      this.handOver(fh)
    }
    return fh
  }

  /**
   * Let the native side take the writes of `fh` when every byte they write is new: the file is
   * staged and has no earlier content whose shards a write would first have to fetch (created,
   * or truncated to zero). Appends stay here (their offset is the size JavaScript knows).
   */
  private handOver(fh: number): void {
    const fw = this.fastWrites
    const h = this.handles.get(fh)
    if (!fw || !h || !h.writable || h.append) return
    const node = this.state.get(h.ino)
    if (!node || !node.staged || (node.versionId !== null && node.baseSize > 0)) return
    const fd = this.staging.heldFd(h.ino)
    if (fd === undefined || !fw.open(fh, fd, MAX_FILE_SIZE)) return
    h.fast = true
    addHandle(this.fastByIno, h.ino, fh)
  }

  /**
   * Account for the writes the native side took for `ino` since last time, exactly as write()
   * would have: the shards they touched are dirty, the size and time move, the handle wrote.
   * Runs before anything that reads the file's size or shard states.
   */
  private takeFastWrites(ino: number): void {
    const fhs = this.fastByIno.get(ino)
    const fw = this.fastWrites
    if (!fhs || !fw) return
    for (const fh of fhs) {
      const w = fw.take(fh)
      if (!w || w.hi <= w.lo) continue
      const h = this.handles.get(fh)
      if (h) h.wrote = true
      const node = this.state.get(ino)
      if (!node) continue
      const first = Math.floor(w.lo / this.shardSize)
      const last = Math.floor((w.hi - 1) / this.shardSize)
      this.state.transaction(() => {
        for (let idx = first; idx <= last; idx++) if (this.state.shard(ino, idx) !== node.gen) this.state.markDirty(ino, idx, node.gen)
        if (!node.dirty) this.state.update(ino, { dirty: true })
      })
      this.liveSize.set(ino, Math.max(this.knownSize(node), w.hi))
      this.liveMtime.set(ino, w.at)
      this.state.visibleChanged()
    }
  }

  private openHandle(node: LocalNode, flags: number, wrote: boolean): number {
    const acc = flags & O_ACCMODE
    const h: Handle = { ino: node.ino, readable: acc !== O_WRONLY, writable: acc === O_WRONLY || acc === O_RDWR, append: (flags & O_APPEND) !== 0, wrote }
    const fh = this.nextFh++
    this.handles.set(fh, h)
    this.openCount.set(node.ino, (this.openCount.get(node.ino) ?? 0) + 1)
    if (h.writable) this.writers.set(node.ino, (this.writers.get(node.ino) ?? 0) + 1)
    if (node.staged) this.staging.ref(node.ino)
    return fh
  }

  /** Make `ino` staged (its staging file exists, sized like the file) and return the fresh row. */
  private stage(ino: number): LocalNode {
    const node = this.state.must(ino)
    if (node.versionId && node.remoteId) this.remote.pin?.(node.remoteId, node.versionId)
    if (node.staged) return node
    this.staging.create(ino, node.size)
    this.state.update(ino, { staged: true })
    // Handles opened before staging hold no descriptor; give them one now.
    const opens = this.openCount.get(ino) ?? 0
    for (let i = 0; i < opens; i++) this.staging.ref(ino)
    return { ...node, staged: true }
  }

  /**
   * Read into `buf`. A read that only needs shards of the network version that are in memory
   * already is answered at once (a number, not a promise): most of a sequential read, since
   * read-ahead fetched them.
   */
  read(fh: number, buf: Buffer, length: number, pos: number): number | Promise<number> {
    const h = this.handle(fh)
    if (!h.readable) throw fsErr('EBADF')
    const node = this.state.must(h.ino)
    if (node.kind === 'dir') throw fsErr('EISDIR')
    const size = this.sizeOf(node)
    if (pos >= size || length <= 0) return 0
    const end = Math.min(size, pos + length)
    const n = this.readFromMemory(node, buf, pos, end)
    if (n === undefined) return this.readSlow(node, buf, pos, end)
    if (this.fastReads) this.offerFastRead(fh, h, node, size, pos, end)
    return n
  }

  /**
   * After a read answered from memory: hand `fh` to the native side for the rest of this shard,
   * if the file is exactly its network version (nothing staged: every byte is the version's).
   */
  private offerFastRead(fh: number, h: Handle, node: LocalNode, size: number, pos: number, end: number): void {
    if (node.staged || !node.versionId || !node.remoteId || size > node.baseSize) return
    const idx = Math.floor(pos / this.shardSize)
    if (Math.floor((end - 1) / this.shardSize) !== idx) return
    if (!this.fastReads!.handle(fh, this.remote.contentId(node.versionId), size, this.shardSize, idx)) return
    if (h.fastRead) return
    h.fastRead = true
    addHandle(this.fastReadByIno, h.ino, fh)
  }

  /** The content of `ino` is changing: no native read may use what its handles were handed. */
  private forgetFastReads(ino: number): void {
    const fhs = this.fastReadByIno.get(ino)
    if (!fhs) return
    this.fastReadByIno.delete(ino)
    for (const fh of fhs) {
      this.fastReads?.forget(fh)
      const h = this.handles.get(fh)
      if (h) h.fastRead = false
    }
  }

  /** All of [pos, end) from network shards already in memory, or undefined (then nothing is used). */
  private readFromMemory(node: LocalNode, buf: Buffer, pos: number, end: number): number | undefined {
    if (!node.versionId || !node.remoteId || end > node.baseSize) return undefined
    let off = pos
    while (off < end) {
      const idx = Math.floor(off / this.shardSize)
      const shardStart = idx * this.shardSize
      const pieceEnd = Math.min(end, shardStart + this.shardSize)
      if (node.staged && this.state.shard(node.ino, idx) !== undefined) return undefined
      const from = off
      const got = this.remote.withShardNow(node.remoteId, node.versionId, idx, (plain) => {
        if (plain.length < pieceEnd - shardStart) return false
        plain.copy(buf, from - pos, from - shardStart, pieceEnd - shardStart)
        return true
      })
      if (!got?.value) return undefined
      off = pieceEnd
    }
    return end - pos
  }

  private async readSlow(node: LocalNode, buf: Buffer, pos: number, end: number): Promise<number> {
    let off = pos
    while (off < end) {
      const idx = Math.floor(off / this.shardSize)
      const shardStart = idx * this.shardSize
      const pieceEnd = Math.min(end, shardStart + this.shardSize)
      const out = buf.subarray(off - pos, pieceEnd - pos)
      const local = !node.versionId || shardStart >= node.baseSize || (node.staged && this.state.shard(node.ino, idx) !== undefined)
      if (local) {
        if (node.staged) await this.staging.with(node.ino, (fd) => this.staging.readFully(fd, out, off))
        else out.fill(0)
      } else {
        // Bytes of the base version up to base_size; zeros after it (a truncate then extend).
        const remoteEnd = Math.min(pieceEnd, node.baseSize)
        try {
          await this.remote.withShard(node.remoteId!, node.versionId!, idx, (plain) => {
            if (remoteEnd > off) plain.copy(out, 0, off - shardStart, remoteEnd - shardStart)
          })
        } catch (err) {
          throw toFsError(err)
        }
        if (pieceEnd > remoteEnd) out.fill(0, Math.max(0, remoteEnd - off))
      }
      off = pieceEnd
    }
    return end - pos
  }

  async write(fh: number, buf: Buffer, length: number, pos: number): Promise<number> {
    this.lastActivity = Date.now()
    const h = this.handle(fh)
    if (!h.writable) throw fsErr('EBADF')
    this.takeFastWrites(h.ino)
    let node = this.state.must(h.ino)
    if (h.append) pos = this.sizeOf(node)
    if (pos + length > MAX_FILE_SIZE) throw fsErr('EFBIG')
    if (length === 0) return 0
    node = this.stage(node.ino)
    await this.prepareShards(node, pos, pos + length)
    const data = buf.subarray(0, length)
    try {
      await this.staging.with(node.ino, (fd) => this.staging.write(fd, data, pos))
    } catch (err) {
      throw toFsError(err)
    }
    const size = Math.max(this.sizeOf(node), pos + length)
    this.liveSize.set(node.ino, size)
    this.liveMtime.set(node.ino, Date.now())
    this.state.visibleChanged()
    h.wrote = true
    return length
  }

  /**
   * Before bytes [from, to) of a staged file change: every shard they touch is recorded dirty, and
   * a shard of the base version that is not staged yet is first copied into staging (the part the
   * write does not cover), so staged shards are always whole.
   */
  private prepareShards(node: LocalNode, from: number, to: number): Promise<void> {
    // One preparation at a time per file: two writes into the same unstaged shard must not both
    // copy the base bytes in (the second copy would land over the first write's data).
    const prev = this.prepLocks.get(node.ino) ?? Promise.resolve()
    const run = prev.then(() => this.prepareShardsNow(this.state.must(node.ino), from, to))
    const tail = run.catch(() => {})
    this.prepLocks.set(node.ino, tail)
    tail.then(() => { if (this.prepLocks.get(node.ino) === tail) this.prepLocks.delete(node.ino) })
    return run
  }

  private readonly prepLocks = new Map<number, Promise<void>>()

  private async prepareShardsNow(node: LocalNode, from: number, to: number): Promise<void> {
    const first = Math.floor(from / this.shardSize)
    const last = Math.floor((Math.max(to, from + 1) - 1) / this.shardSize)
    for (let idx = first; idx <= last; idx++) {
      const state = this.state.shard(node.ino, idx)
      if (state === node.gen) continue // already dirty in this generation
      const shardStart = idx * this.shardSize
      const baseEnd = Math.min(node.baseSize, shardStart + this.shardSize)
      const covered = from <= shardStart && to >= baseEnd
      if (state === undefined && node.versionId && shardStart < node.baseSize && !covered) {
        let part: Buffer
        try {
          part = await this.remote.withShard(node.remoteId!, node.versionId, idx, (plain) => Buffer.from(plain.subarray(0, baseEnd - shardStart)))
        } catch (err) {
          throw toFsError(err)
        }
        await this.staging.with(node.ino, (fd) => this.staging.write(fd, part, shardStart))
      }
      this.state.markDirty(node.ino, idx, node.gen)
    }
    if (!node.dirty) this.state.update(node.ino, { dirty: true })
  }

  async truncate(path: string, size: number): Promise<void> {
    this.lastActivity = Date.now()
    const node = this.lookup(path)
    if (node.kind === 'dir') throw fsErr('EISDIR', path)
    if (node.kind !== 'file') throw fsErr('EINVAL', path)
    await this.truncateNode(node.ino, size)
    // truncate(2) on a path is a whole change by itself: commit it like a close.
    if ((this.writers.get(node.ino) ?? 0) === 0) this.closed(node.ino)
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    this.lastActivity = Date.now()
    const h = this.handle(fh)
    if (!h.writable) throw fsErr('EBADF')
    await this.truncateNode(h.ino, size)
    h.wrote = true
  }

  private async truncateNode(ino: number, size: number): Promise<void> {
    if (size < 0) throw fsErr('EINVAL')
    if (size > MAX_FILE_SIZE) throw fsErr('EFBIG')
    let node = this.stage(ino)
    const old = this.sizeOf(node)
    if (size === old && node.dirty) return
    const boundary = size % this.shardSize
    if (size < node.baseSize) {
      // The shard cut in the middle keeps its head: stage it whole before the cut.
      if (boundary !== 0) await this.prepareShards(node, size, size)
      this.state.dropShardsFrom(ino, Math.ceil(size / this.shardSize))
      this.state.update(ino, { baseSize: size })
      node = this.state.must(ino)
    } else if (size > old && old % this.shardSize !== 0) {
      // Growing: the old last shard gets zeros appended, so it changes.
      await this.prepareShards(node, old, old)
    }
    if (boundary !== 0 && size < old) await this.prepareShards(node, size - 1, size)
    if (size < old) this.state.dropShardsFrom(ino, Math.ceil(size / this.shardSize))
    try {
      await this.staging.with(ino, (fd) => this.staging.truncate(fd, size))
    } catch (err) {
      throw toFsError(err)
    }
    this.liveSize.set(ino, size)
    this.liveMtime.delete(ino)
    this.state.visibleChanged()
    this.state.update(ino, { size, dirty: true, mtime: Date.now(), ctime: Date.now() })
  }

  /**
   * close(2) waits for flush, not for release (the kernel sends that later): this is the moment
   * the application considers the file closed, so its size goes to the row and its upload into
   * the journal now.
   */
  async flush(fh: number): Promise<void> {
    const h = this.handles.get(fh)
    if (!h) return
    this.persistSize(h.ino)
    if (h.wrote) this.closed(h.ino)
  }

  async fsync(fh: number): Promise<void> {
    const h = this.handle(fh)
    const node = this.state.must(h.ino)
    if (node.staged) {
      try {
        await this.staging.with(node.ino, (fd) => this.staging.sync(fd))
      } catch (err) {
        throw toFsError(err)
      }
    }
    this.persistSize(h.ino)
    if (h.wrote) {
      h.wrote = false
      this.closed(h.ino)
    }
  }

  release(fh: number): void {
    const h = this.handles.get(fh)
    if (!h) return
    const node = this.state.get(h.ino)
    this.persistSize(h.ino)
    this.handles.delete(fh)
    if (h.fastRead) {
      this.fastReads?.forget(fh)
      removeHandle(this.fastReadByIno, h.ino, fh)
    }
    if (h.fast) {
      this.fastWrites?.close(fh)
      removeHandle(this.fastByIno, h.ino, fh)
    }
    const opens = (this.openCount.get(h.ino) ?? 1) - 1
    if (opens > 0) this.openCount.set(h.ino, opens)
    else this.openCount.delete(h.ino)
    if (h.writable) {
      const w = (this.writers.get(h.ino) ?? 1) - 1
      if (w > 0) this.writers.set(h.ino, w)
      else this.writers.delete(h.ino)
    }
    if (node?.staged) this.staging.unref(h.ino)
    if (opens === 0 && this.liveSize.delete(h.ino)) this.state.visibleChanged()
    if (h.wrote && node && node.parent !== 0) this.closed(h.ino)
  }

  /** The size and mtime a writer left, into the row (the staging file already has the bytes). */
  private persistSize(ino: number): void {
    this.takeFastWrites(ino)
    const size = this.liveSize.get(ino)
    const mtime = this.liveMtime.get(ino)
    if (size === undefined && mtime === undefined) return
    const node = this.state.get(ino)
    if (!node) return
    if (mtime !== undefined) {
      this.liveMtime.delete(ino)
      this.state.update(ino, { size: size ?? node.size, mtime, ctime: mtime })
    } else if (size !== node.size) {
      this.state.update(ino, { size })
    }
  }

  private closed(ino: number): void {
    const node = this.state.get(ino)
    if (!node || node.parent === 0) return
    if (!node.dirty) return
    this.hooks.contentClosed(ino)
  }

  isOpen(ino: number): boolean {
    return (this.openCount.get(ino) ?? 0) > 0
  }

  hasWriters(ino: number): boolean {
    return (this.writers.get(ino) ?? 0) > 0
  }

  get openHandles(): number {
    return this.handles.size
  }

  // ---- helpers for the write-back engine ---------------------------------------------------

  /** Plaintext bytes [pos, pos+length) of a node as the VFS sees them now. */
  async readNode(ino: number, pos: number, length: number): Promise<Buffer> {
    const fh = this.openHandle(this.state.must(ino), 0, false)
    try {
      const buf = Buffer.allocUnsafe(length)
      const n = await this.read(fh, buf, length, pos)
      if (n !== length) throw new XError('XC_LOCAL_IO', `short read of node ${ino}`)
      return buf
    } finally {
      this.release(fh)
    }
  }
}

/** Handles by node: add one. */
function addHandle(byIno: Map<number, Set<number>>, ino: number, fh: number): void {
  let set = byIno.get(ino)
  if (!set) byIno.set(ino, (set = new Set()))
  set.add(fh)
}

/** Handles by node: remove one (and the node's entry with its last). */
function removeHandle(byIno: Map<number, Set<number>>, ino: number, fh: number): void {
  const set = byIno.get(ino)
  set?.delete(fh)
  if (set?.size === 0) byIno.delete(ino)
}
