/**
 * The FUSE adapter: fuse-native callbacks in, VFS calls out, errno numbers back. It decides
 * nothing; every rule lives in the VFS.
 *
 * fuse-native builds libfuse's `-o` list from a fixed set of options. `XFuse` extends that list
 * with `big_writes` and `max_write`, so the kernel sends writes of up to 128 KiB instead of
 * 4 KiB pages (about 18x fewer round trips into JavaScript for a sequential write).
 */
import Fuse from 'fuse-native'
import { errnoNumber, toFsError } from '../vfs/errno.js'
import type { Attr, StatFs, Vfs } from '../vfs/vfs.js'
import { attrCache, fastReads, fastWrites } from './attr-cache.js'

export const MAX_WRITE = 128 * 1024

export interface MountOptions {
  /** Seconds the kernel may cache attributes and names (freshness vs. speed of stat). */
  attrTimeout?: number
  entryTimeout?: number
  fsname?: string
  /** Answer repeated getattrs on libfuse's threads (attr-cache.ts); on unless false. */
  attrCache?: boolean
  /** Let libfuse's threads write new files' bytes into staging themselves; on unless false. */
  fastWrites?: boolean
  /** Let libfuse's threads answer reads from shards in memory themselves; on unless false. */
  fastReads?: boolean
}

export class XFuse extends Fuse {
  /** The mount's native state (null before mount()): owner of its attribute cache entries. */
  get nativeMount(): Buffer | null {
    return this._thread
  }

  protected override _fuseOptions(): string {
    const base = super._fuseOptions()
    const extra = ['big_writes', `max_write=${MAX_WRITE}`, `max_read=${MAX_WRITE}`]
    return base ? `${base},${extra.join(',')}` : `-o${extra.join(',')}`
  }
}

type Callback = (...args: any[]) => void

function fail(cb: Callback, err: unknown): void {
  cb(errnoNumber(toFsError(err).errno))
}

/** Run a VFS call and answer the kernel: `ok` turns the result into the callback's arguments. */
function call<T>(cb: Callback, fn: () => T | Promise<T>, ok: (v: T) => unknown[]): void {
  let r: T | Promise<T>
  try {
    r = fn()
  } catch (err) {
    fail(cb, err)
    return
  }
  if (r instanceof Promise) r.then((v) => cb(...ok(v)), (err) => fail(cb, err))
  else cb(...ok(r))
}

const done = (): unknown[] => [0]
const stat = (a: Attr): unknown[] => [0, a]

/**
 * The kernel's requests. `fresh(path)` runs right before the answer to a change made through
 * `path` (in the same synchronous step): it hands the native attribute cache the path's new
 * attributes, since libfuse asks for them next.
 */
export function fuseOps(vfs: Vfs, fresh: (path: string) => void = () => {}): Record<string, Callback> {
  const then = <T>(path: string, ok: (v: T) => unknown[]) => (v: T): unknown[] => {
    fresh(path)
    return ok(v)
  }
  return {
    init: (cb) => cb(0),
    getattr: (path: string, cb) => call(cb, () => vfs.getattr(path), stat),
    fgetattr: (_path: string, fd: number, cb) => call(cb, () => vfs.fgetattr(fd), stat),
    readdir: (path: string, cb) => call(cb, () => vfs.readdir(path), (r) => [0, r.names, r.attrs]),
    statfs: (_path: string, cb) => call(cb, () => vfs.statfs(), (s: StatFs) => [0, s]),
    access: (path: string, _mode: number, cb) => call(cb, () => vfs.lookup(path), done),
    open: (path: string, flags: number, cb) => call(cb, () => vfs.open(path, flags), (fh) => [0, fh]),
    opendir: (path: string, flags: number, cb) => call(cb, () => vfs.open(path, flags & ~3), (fh) => [0, fh]),
    create: (path: string, mode: number, cb) => call(cb, () => vfs.create(path, mode), then(path, (fh) => [0, fh])),
    read: (_path: string, fd: number, buf: Buffer, len: number, pos: number, cb) => call(cb, () => vfs.read(fd, buf, len, pos), (n) => [n]),
    write: (_path: string, fd: number, buf: Buffer, len: number, pos: number, cb) => {
      vfs.write(fd, buf, len, pos).then((n) => { fresh(_path); cb(n) }, (err) => fail(cb, err))
    },
    truncate: (path: string, size: number, cb) => call(cb, () => vfs.truncate(path, size), then(path, done)),
    ftruncate: (path: string, fd: number, size: number, cb) => call(cb, () => vfs.ftruncate(fd, size), then(path, done)),
    flush: (path: string, fd: number, cb) => call(cb, () => vfs.flush(fd), then(path, done)),
    fsync: (_path: string, _datasync: boolean, fd: number, cb) => call(cb, () => vfs.fsync(fd), done),
    fsyncdir: (_path: string, _datasync: boolean, _fd: number, cb) => cb(0),
    release: (path: string, fd: number, cb) => call(cb, () => vfs.release(fd), then(path, done)),
    releasedir: (_path: string, fd: number, cb) => call(cb, () => vfs.release(fd), done),
    unlink: (path: string, cb) => call(cb, () => vfs.unlink(path), done),
    mkdir: (path: string, mode: number, cb) => call(cb, () => vfs.mkdir(path, mode), then(path, done)),
    rmdir: (path: string, cb) => call(cb, () => vfs.rmdir(path), done),
    rename: (src: string, dest: string, cb) => call(cb, () => vfs.rename(src, dest), then(dest, done)),
    utimens: (path: string, atime: number, mtime: number, cb) => call(cb, () => vfs.utimens(path, atime, mtime), then(path, done)),
    chmod: (path: string, mode: number, cb) => call(cb, () => vfs.chmod(path, mode), then(path, done)),
    chown: (_path: string, _uid: number, _gid: number, cb) => cb(0),
    symlink: (target: string, path: string, cb) => call(cb, () => vfs.symlink(target, path), then(path, done)),
    readlink: (path: string, cb) => call(cb, () => vfs.readlink(path), (t) => [0, t]),
    link: (_src: string, _dest: string, cb) => cb(errnoNumber('EPERM')),
    mknod: (_path: string, _mode: number, _dev: number, cb) => cb(errnoNumber('EPERM')),
  }
}

export function createMount(mountpoint: string, vfs: Vfs, opts: MountOptions = {}): XFuse {
  let fresh: ((path: string) => void) | undefined
  if (attrCache) {
    const cache = attrCache
    const on = opts.attrCache !== false
    cache.enable(on)
    vfs.state.visibleChanged = () => cache.bump()
    fresh = on ? (p) => {
      const mount = fuse.nativeMount
      if (!mount) return
      let a: Attr
      try {
        a = vfs.getattr(p)
      } catch {
        return // gone already (an unlinked file still open): nothing to cache
      }
      cache.put(mount, p, a)
    } : undefined
  }
  if (fastWrites && opts.fastWrites !== false) {
    const native = fastWrites
    // Each handed-over handle keeps the mount it was opened on (and with it the buffer whose
    // address keys its native entry) until its release.
    const mounts = new Map<number, Buffer>()
    vfs.fastWrites = {
      open: (fh, fd, maxSize) => {
        const mount = fuse.nativeMount
        if (!mount || !native.open(mount, fh, fd, maxSize)) return false
        mounts.set(fh, mount)
        return true
      },
      take: (fh) => {
        const mount = mounts.get(fh)
        return mount ? native.take(mount, fh) : null
      },
      close: (fh) => {
        const mount = mounts.get(fh)
        if (!mount) return
        mounts.delete(fh)
        native.close(mount, fh)
      },
      lastWriteAt: () => native.lastWriteAt(),
    }
  }
  if (fastReads && opts.fastReads !== false) {
    const native = fastReads
    const mounts = new Map<number, Buffer>()
    vfs.remote.memory = { put: (content, idx, buf) => { native.shard(content, idx, buf) }, drop: (content, idx) => native.drop(content, idx) }
    vfs.fastReads = {
      handle: (fh, content, size, shardSize, idx) => {
        const mount = mounts.get(fh) ?? fuse.nativeMount
        if (!mount || !native.handle(mount, fh, content, size, shardSize, idx)) return false
        mounts.set(fh, mount)
        return true
      },
      forget: (fh) => {
        const mount = mounts.get(fh)
        if (!mount) return
        mounts.delete(fh)
        native.forget(mount, fh)
      },
    }
  }
  const fuse: XFuse = new XFuse(mountpoint, fuseOps(vfs, fresh), {
    // Reads may wait on the network: the VFS has its own timeouts, no blanket 15 s limit.
    timeout: false,
    fsname: opts.fsname ?? 'xcloud',
    subtype: 'xcloud',
    uid: process.getuid?.(),
    gid: process.getgid?.(),
    attrTimeout: opts.attrTimeout ?? 1,
    entryTimeout: opts.entryTimeout ?? 1,
    force: true,
  })
  return fuse
}
