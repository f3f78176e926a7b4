/**
 * Staging files: staging/<ino> holds a file's locally written bytes at their real offsets
 * (sparse where nothing was written). One descriptor per staged file, shared by all its handles
 * and kept while any handle is open; the file's length is the file's size.
 */
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, rmSync, statSync, writeSync, constants } from 'node:fs'
import { close, fdatasync, read, write, ftruncate } from 'node:fs'
import path from 'node:path'

/**
 * Reads and writes up to this size run synchronously: they go to the page cache and take a few
 * microseconds, while a trip through libuv's thread pool costs about 100 us of waking threads,
 * which is most of a small file's write on the mount (measured: 8 KB writes 180 -> 15 us).
 */
const SYNC_IO_MAX = 128 * 1024

interface Open {
  fd: number
  refs: number
}

export class Staging {
  private readonly open = new Map<number, Open>()

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
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
    const fd = openSync(this.pathOf(ino), constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o600)
    const old = this.open.get(ino)
    if (old) {
      closeSync(fd)
      ftruncateSync(old.fd, 0)
      return
    }
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
