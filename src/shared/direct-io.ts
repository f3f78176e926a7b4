/**
 * Shard-sized writes (and whole-shard reads) that bypass the page cache (O_DIRECT) where the file
 * system allows it: hosts storing and serving shards, clients writing downloads.
 *
 * Why: a host writes every byte it stores once, and on ext4 a buffered write costs the CPU a copy
 * into the page cache plus block bookkeeping — measured here at about 2.3 ns per byte, more than
 * hashing and TLS together. O_DIRECT lets the device read straight from our buffer. Reads the same:
 * a shard served is rarely served again soon by the same host, and a buffered read pays for
 * filling the page cache, copying out of it, and later evicting it, while pushing the owner's own
 * files out of memory on a volunteer's machine.
 *
 * O_DIRECT needs the memory address, the file offset and the length aligned to the device's
 * logical block size. JavaScript cannot see addresses, so buffers come from slabs whose aligned
 * offset is found once by asking the kernel: a probe write at successive 16-byte offsets into the
 * slab, the first one that is not refused with EINVAL is aligned. Each buffer is a 2 MiB view
 * starting there, so it stays aligned. The part of a shard past the last whole 4 KiB block is
 * written through an ordinary descriptor. Where O_DIRECT is refused (tmpfs, some file systems) or
 * no offset is found, every write is an ordinary buffered write: same bytes, more CPU.
 */
import { constants } from 'node:fs'
import { open, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'

/** Lengths and offsets handed to O_DIRECT are multiples of this (covers 512 and 4096 devices). */
const BLOCK = 4096
const ADDRESS_STEP = 16
/** 16 × 2 MiB + 4 KiB: over glibc's largest mmap threshold (32 MiB). */
const SLAB_BUFFERS = 16

export interface DirectFile {
  writeAt(data: Buffer, position: number): Promise<void>
  /** fsync: the directly written blocks need their metadata durable too. */
  sync(): Promise<void>
  close(): Promise<void>
}

export class DirectWriter {
  private readonly free: Buffer[] = []
  /** ArrayBuffers of slabs whose views are known to be aligned. */
  private readonly aligned = new WeakSet<ArrayBufferLike>()
  private direct = true
  /** Whole-file reads with O_DIRECT (off for good after the file system refuses one). */
  private directReads = true

  private readonly maxFree: number

  private constructor(private readonly tmpDir: string, readonly bufferSize: number, maxFree: number) {
    // Never fewer than one slab's worth, or released buffers would be dropped and slabs re-made.
    this.maxFree = Math.max(maxFree, SLAB_BUFFERS)
  }

  /** Probe `tmpDir`'s file system once; buffers and writes adapt to what it supports. */
  static async open(tmpDir: string, bufferSize: number, maxFree = 32): Promise<DirectWriter> {
    const w = new DirectWriter(tmpDir, bufferSize, maxFree)
    await w.addSlab()
    return w
  }

  get usesDirectIo(): boolean {
    return this.direct
  }

  /** A buffer of `length` bytes for a shard body (aligned when direct I/O is on). */
  async acquire(length: number): Promise<Buffer> {
    if (length > this.bufferSize) return Buffer.allocUnsafeSlow(length)
    if (this.free.length === 0) await this.addSlab()
    return this.free.pop()!.subarray(0, length)
  }

  release(view: Buffer): void {
    if (this.free.length >= this.maxFree || view.byteOffset + this.bufferSize > view.buffer.byteLength) return
    if (view.buffer.byteLength > SLAB_BUFFERS * this.bufferSize + BLOCK) return
    this.free.push(Buffer.from(view.buffer, view.byteOffset, this.bufferSize))
  }

  /** Write `data` as the whole content of a new file at `path` and fdatasync it. */
  async writeFile(path: string, data: Buffer): Promise<void> {
    const prefix = this.direct && this.aligned.has(data.buffer) ? data.length - (data.length % BLOCK) : 0
    let fh: FileHandle
    if (prefix > 0) {
      try {
        fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err
        this.direct = false
        return this.writeFile(path, data)
      }
      try {
        try {
          await writeAll(fh, data.subarray(0, prefix), 0)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err
          // Refused after all: never try again, write this one the ordinary way.
          this.direct = false
          await fh.close()
          await unlink(path).catch(() => {})
          return this.writeFile(path, data)
        }
        if (prefix < data.length) {
          // The unaligned tail goes through the page cache on its own descriptor.
          const tail = await open(path, constants.O_WRONLY)
          try {
            await writeAll(tail, data.subarray(prefix), prefix)
            await tail.datasync()
          } finally {
            await tail.close()
          }
        }
        // The file's length and extents must be durable too.
        await fh.datasync()
      } finally {
        await fh.close().catch(() => {})
      }
      return
    }
    fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    try {
      await writeAll(fh, data, 0)
      await fh.datasync()
    } finally {
      await fh.close()
    }
  }

  /**
   * The whole file at `path` in a buffer of this pool (give it back with `release`), read straight
   * from the device where the file system allows it. Null when the file is longer than a buffer.
   * Rejects as fs does (ENOENT and so on).
   */
  async readFile(path: string): Promise<Buffer | null> {
    if (this.direct && this.directReads) {
      let fh: FileHandle | undefined
      try {
        fh = await open(path, constants.O_RDONLY | constants.O_DIRECT)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err
        this.directReads = false
      }
      if (fh) {
        try {
          const st = await fh.stat()
          if (!st.isFile()) throw notAFile(path)
          const size = st.size
          if (size > this.bufferSize) return null
          const buf = await this.acquire(this.bufferSize)
          if (!this.aligned.has(buf.buffer)) {
            this.release(buf)
          } else {
            try {
              // Whole blocks up to the end of the file; the last read comes back short at its end.
              const want = Math.min(this.bufferSize, Math.ceil(size / BLOCK) * BLOCK)
              return buf.subarray(0, Math.min(await readInto(fh, buf, want, 0), size))
            } catch (err) {
              this.release(buf)
              if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err
              this.directReads = false // refused after all: read the ordinary way from now on
            }
          }
        } finally {
          await fh.close().catch(() => {})
        }
      }
    }
    const fh = await open(path, 'r')
    try {
      const st = await fh.stat()
      if (!st.isFile()) throw notAFile(path)
      const size = st.size
      if (size > this.bufferSize) return null
      const buf = await this.acquire(size)
      try {
        return buf.subarray(0, await readInto(fh, buf, size, 0))
      } catch (err) {
        this.release(buf)
        throw err
      }
    } finally {
      await fh.close()
    }
  }

  /**
   * Open (create or truncate) a file for positional writes of shard-sized pieces. A piece in a
   * buffer from `acquire`, at a block-aligned position, goes to the device directly; anything
   * else (and the unaligned tail) through the page cache.
   */
  async openFile(path: string, size: number): Promise<DirectFile> {
    const buffered = await open(path, 'w', 0o600)
    let direct: FileHandle | null = null
    try {
      await buffered.truncate(size)
      if (this.direct) direct = await open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => null)
    } catch (err) {
      await buffered.close()
      throw err
    }
    const writeAt = async (data: Buffer, position: number): Promise<void> => {
      const prefix = direct && this.direct && this.aligned.has(data.buffer) && position % BLOCK === 0 ? data.length - (data.length % BLOCK) : 0
      if (prefix > 0) {
        try {
          await writeAll(direct!, data.subarray(0, prefix), position)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err
          this.direct = false
          return writeAt(data, position)
        }
      }
      if (prefix < data.length) await writeAll(buffered, data.subarray(prefix), position + prefix)
    }
    return {
      writeAt,
      sync: () => buffered.sync(),
      close: async () => {
        await direct?.close()
        await buffered.close()
      },
    }
  }

  /**
   * A slab of SLAB_BUFFERS buffers. Above 32 MiB, glibc always serves it with its own mmap, so
   * every slab has the same alignment; each is probed anyway, since that is an implementation
   * detail and the probe costs one 4 KiB write.
   */
  private async addSlab(): Promise<void> {
    const slab = Buffer.allocUnsafeSlow(SLAB_BUFFERS * this.bufferSize + BLOCK)
    const offset = this.direct ? await this.alignedOffset(slab) : -1
    if (offset < 0) this.direct = false
    else this.aligned.add(slab.buffer)
    const base = Math.max(offset, 0)
    for (let i = 0; i < SLAB_BUFFERS; i++) {
      this.free.push(slab.subarray(base + i * this.bufferSize, base + (i + 1) * this.bufferSize))
    }
  }

  private async alignedOffset(slab: Buffer): Promise<number> {
    const probe = join(this.tmpDir, `.direct-probe-${randomBytes(6).toString('hex')}`)
    try {
      const fh = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600)
      try {
        for (let off = 0; off < BLOCK; off += ADDRESS_STEP) {
          try {
            await fh.write(slab, off, BLOCK, 0)
            return off
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err
          }
        }
        return -1
      } finally {
        await fh.close()
      }
    } catch {
      return -1 // O_DIRECT refused by this file system
    } finally {
      await unlink(probe).catch(() => {})
    }
  }
}

/** Read `length` bytes from `position` into `buf`, or up to the end of the file; how many were read. */
export async function readInto(fh: Pick<FileHandle, 'read'>, buf: Buffer, length: number, position: number): Promise<number> {
  let off = 0
  while (off < length) {
    const { bytesRead } = await fh.read(buf, off, length - off, position + off)
    if (bytesRead === 0) break
    off += bytesRead
  }
  return off
}

/** What reading a folder (or anything else that is not a file) as a whole file is: not there. */
function notAFile(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: not a file, ${path}`), { code: 'ENOENT' })
}

async function writeAll(fh: { write(b: Buffer, o: number, l: number, p: number): Promise<{ bytesWritten: number }> }, data: Buffer, position: number): Promise<void> {
  let off = 0
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off)
    if (bytesWritten === 0) throw new Error('write made no progress')
    off += bytesWritten
  }
}
