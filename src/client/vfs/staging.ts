/**
 * Staging files: staging/<ino> holds a file's locally written bytes at their real offsets
 * (sparse where nothing was written). One descriptor per staged file, shared by all its handles
 * and kept while any handle is open; the file's length is the file's size.
 */
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync, constants } from 'node:fs'
import { close, fdatasync, mkdir, open as openAsync, read, rmdir, write, ftruncate } from 'node:fs'
import path from 'node:path'

/**
 * Reads and writes up to this size run synchronously: they go to the page cache and take a few
 * microseconds, while a trip through libuv's thread pool costs about 100 us of waking threads,
 * which is most of a small file's write on the mount (measured: 8 KB writes 180 -> 15 us).
 */
const SYNC_IO_MAX = 128 * 1024

/**
 * Empty files made ahead of need, on libuv's threads: creating a file here costs 150-500 us of
 * kernel time, renaming one 15-20 us (measured), and a program unpacking an archive creates one
 * file after another. A new node's staging file is a spare renamed into place. Spares come in
 * batches, each made in a folder of its own, and renames take from a batch already complete:
 * a rename out of a folder where files are still being created waits for those creates.
 */
const BATCH = 32
/** After a spare could not be made (a full disk), creates go the direct way for this long. */
const SPARE_BACKOFF_MS = 1000

interface Open {
  fd: number
  refs: number
}

interface Spare {
  path: string
  fd: number
}

interface Batch {
  dir: string
  spares: Spare[]
  /** Not complete yet: renames do not take from it. */
  pending: boolean
}

export class Staging {
  private readonly open = new Map<number, Open>()
  private readonly spareDir: string
  /** The complete batch renames take from, and the one being made. */
  private ready: Batch | null = null
  private filling: Batch | null = null
  private batchSeq = 0
  private spareFailedAt = 0
  private closed = false

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    // Spares are empty and belong to no node: whatever an earlier process left there goes.
    this.spareDir = path.join(dir, '.spare')
    rmSync(this.spareDir, { recursive: true, force: true })
    mkdirSync(this.spareDir, { mode: 0o700 })
  }

  /** Close and remove the spares (when the daemon stops). */
  close(): void {
    this.closed = true
    for (const batch of [this.ready, this.filling]) {
      for (const s of batch?.spares.splice(0) ?? []) closeSync(s.fd)
    }
    rmSync(this.spareDir, { recursive: true, force: true })
  }

  /** Spares that renames can take now (for tests). */
  get spareCount(): number {
    return this.ready?.spares.length ?? 0
  }

  /** A spare from the complete batch, if there is one; starts making the next batch. */
  private takeSpare(): Spare | undefined {
    if (!this.ready?.spares.length && this.filling?.pending === false) {
      if (this.ready) rmdir(this.ready.dir, () => {})
      this.ready = this.filling
      this.filling = null
    }
    this.fill()
    return this.ready?.spares.pop()
  }

  private fill(): void {
    if (this.filling || this.closed || Date.now() - this.spareFailedAt < SPARE_BACKOFF_MS) return
    const batch: Batch = { dir: path.join(this.spareDir, String(++this.batchSeq)), spares: [], pending: true }
    this.filling = batch
    const finish = (err?: Error | null): void => {
      batch.pending = false
      if (err) this.spareFailedAt = Date.now()
    }
    mkdir(batch.dir, { mode: 0o700 }, (err) => {
      if (err) return finish(err)
      // One create at a time: creates in one folder take its lock in turn, and parallel ones
      // spend their wait spinning on it (measured: twice the kernel time for the same files).
      const next = (i: number): void => {
        if (i === BATCH || this.closed) return finish()
        const file = path.join(batch.dir, String(i))
        openAsync(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600, (err, fd) => {
          if (err) return finish(err)
          if (this.closed) close(fd, () => {})
          else batch.spares.push({ path: file, fd })
          next(i + 1)
        })
      }
      next(0)
    })
  }

  pathOf(ino: number): string {
    return path.join(this.dir, String(ino))
  }

  /** Create (or keep) the staging file of `ino` with `size` bytes. */
  create(ino: number, size: number): void {
    const fd = openSync(this.pathOf(ino), constants.O_RDWR | constants.O_CREAT, 0o600)
    try {
      if (fstatSync(fd).size !== size) ftruncateSync(fd, size)
    } finally {
      closeSync(fd)
    }
  }

  /**
   * A new, empty staging file for a node just created, left open for the handle that follows
   * (its `ref` takes this descriptor instead of opening the file again). A file left by an earlier
   * node with the same number is emptied.
   */
  createEmpty(ino: number): void {
    const old = this.open.get(ino)
    if (old) {
      ftruncateSync(old.fd, 0)
      return
    }
    const spare = this.takeSpare()
    if (spare) {
      try {
        renameSync(spare.path, this.pathOf(ino))
        this.open.set(ino, { fd: spare.fd, refs: 0 })
        return
      } catch {
        closeSync(spare.fd)
        rmSync(spare.path, { force: true })
      }
    }
    const fd = openSync(this.pathOf(ino), constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o600)
    this.open.set(ino, { fd, refs: 0 })
  }

  /** The staging file's length, or null when there is none. */
  sizeIfAny(ino: number): number | null {
    try {
      return statSync(this.pathOf(ino)).size
    } catch {
      return null
    }
  }

  /** The descriptor open handles of `ino` hold, if any (not counted: only while they hold it). */
  heldFd(ino: number): number | undefined {
    const o = this.open.get(ino)
    return o && o.refs > 0 ? o.fd : undefined
  }

  /** A descriptor for `ino`, counted: give it back with `unref`. */
  ref(ino: number): number {
    let o = this.open.get(ino)
    if (!o) {
      o = { fd: openSync(this.pathOf(ino), constants.O_RDWR), refs: 0 }
      this.open.set(ino, o)
    }
    o.refs++
    return o.fd
  }

  unref(ino: number): void {
    const o = this.open.get(ino)
    if (!o) return
    if (--o.refs <= 0) {
      this.open.delete(ino)
      close(o.fd, () => {})
    }
  }

  /** Run `fn` with a descriptor, opening one briefly when no handle holds it. */
  async with<T>(ino: number, fn: (fd: number) => Promise<T>): Promise<T> {
    const fd = this.ref(ino)
    try {
      return await fn(fd)
    } finally {
      this.unref(ino)
    }
  }

  size(ino: number): number {
    const o = this.open.get(ino)
    if (o) return fstatSync(o.fd).size
    const fd = openSync(this.pathOf(ino), constants.O_RDONLY)
    try { return fstatSync(fd).size } finally { closeSync(fd) }
  }

  write(fd: number, buf: Buffer, pos: number): Promise<number> {
    if (buf.length <= SYNC_IO_MAX) {
      try {
        let n = 0
        while (n < buf.length) n += writeSync(fd, buf, n, buf.length - n, pos + n)
        return Promise.resolve(n)
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return new Promise((resolve, reject) => write(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n))))
  }

  read(fd: number, buf: Buffer, pos: number): Promise<number> {
    if (buf.length <= SYNC_IO_MAX) {
      try {
        return Promise.resolve(readSync(fd, buf, 0, buf.length, pos))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n))))
  }

  /** Read exactly buf.length bytes at pos (zeros past the end). */
  async readFully(fd: number, buf: Buffer, pos: number): Promise<void> {
    let off = 0
    while (off < buf.length) {
      const n = await this.read(fd, buf.subarray(off), pos + off)
      if (n === 0) { buf.fill(0, off); return }
      off += n
    }
  }

  truncate(fd: number, size: number): Promise<void> {
    return new Promise((resolve, reject) => ftruncate(fd, size, (err) => (err ? reject(err) : resolve())))
  }

  sync(fd: number): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())))
  }

  remove(ino: number): void {
    const o = this.open.get(ino)
    if (o) {
      this.open.delete(ino)
      closeSync(o.fd)
    }
    rmSync(this.pathOf(ino), { force: true })
  }
}
