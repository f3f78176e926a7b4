/**
 * Shards on disk, named by their hash: shards/<h[0..2]>/<h[2..4]>/<hash>.
 *
 * Invariants:
 * - A file under shards/ only ever appears by rename from tmp/ after its bytes were hashed, matched
 *   the name and were fsynced; the folder is fsynced after the rename. A crash leaves either the
 *   whole shard or nothing (plus a temp file, swept at the next start).
 * - Paths are built only from names that match HASH_RE, which is also the path-traversal guard.
 * - `used` counts shard bytes on disk; `reserved` counts bytes of uploads in flight. New uploads
 *   are refused when used + reserved + size would exceed capacity (which the owner may change while
 *   the host runs; shards already stored stay when it shrinks below `used`).
 * - A shard's mtime is when it was last stored, or stored again (an upload of a shard already
 *   here touches it). Delete orders compare it with their issue time, so a shard uploaded again
 *   while its delete order was on the way is kept. Commits, touches and removals of one hash run
 *   one after another, so that comparison cannot interleave with a re-upload.
 * Reads are not re-hashed here: clients verify every shard, audits catch rot.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, stat, unlink, utimes, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { XError, xerr } from '../../shared/errors.js'
import { HASH_RE } from '../../shared/tokens.js'
import { SHARD_SIZE } from '../../shared/protocol.js'
import { DirectWriter, readInto } from '../../shared/direct-io.js'

export interface ShardStoreOptions {
  shardsDir: string
  tmpDir: string
  capacity: number
}

export interface Reservation {
  release(): void
}

export interface StoredShard {
  /** False when the shard was already there (the upload was redundant). */
  created: boolean
}

/** What a conditional removal did: removed it, kept it (stored after the cut-off), or found nothing. */
export type RemoveOutcome = 'deleted' | 'kept' | 'missing'

export class ShardStore {
  private usedBytes = 0
  private shardCount = 0
  private reservedBytes = 0
  /** Fan-out folders known to exist, so the hot path skips mkdir. */
  private readonly dirs = new Set<string>()
  private readonly dirsPending = new Map<string, Promise<void>>()
  /** Commits, touches and removals of the same hash run one after another (see the overview). */
  private readonly busy = new Map<string, Promise<unknown>>()
  private capacityBytes: number

  private constructor(private readonly opts: ShardStoreOptions, private readonly writer: DirectWriter) {
    this.capacityBytes = opts.capacity
  }

  /** Prepare folders, sweep temp files a crash left behind, and count what is stored. */
  static async open(opts: ShardStoreOptions): Promise<ShardStore> {
    await rm(opts.tmpDir, { recursive: true, force: true })
    await mkdir(opts.tmpDir, { recursive: true, mode: 0o700 })
    const store = new ShardStore(opts, await DirectWriter.open(opts.tmpDir, SHARD_SIZE))
    await mkdir(opts.shardsDir, { recursive: true, mode: 0o700 })
    const { used, count } = await scanShards(opts.shardsDir)
    store.usedBytes = used
    store.shardCount = count
    return store
  }

  get capacity(): number {
    return this.capacityBytes
  }

  /** The owner changed the capacity; uploads from now on are checked against it. */
  setCapacity(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw xerr('XC_CONFIG', 'capacity must be a non-negative integer')
    this.capacityBytes = bytes
  }
  get used(): number {
    return this.usedBytes
  }
  get count(): number {
    return this.shardCount
  }
  get reserved(): number {
    return this.reservedBytes
  }

  pathOf(hash: string): string {
    if (!HASH_RE.test(hash)) throw xerr('XC_BAD_HASH')
    return join(this.opts.shardsDir, hash.slice(0, 2), hash.slice(2, 4), hash)
  }

  /** A buffer for an incoming shard body; give it back with releaseBuffer. */
  acquireBuffer(length: number): Promise<Buffer> {
    return this.writer.acquire(length)
  }

  releaseBuffer(buf: Buffer): void {
    this.writer.release(buf)
  }

  /** Size of the stored shard, or null if absent. */
  async sizeOf(hash: string): Promise<number | null> {
    try {
      const s = await stat(this.pathOf(hash))
      return s.isFile() ? s.size : null
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
  }

  /** Hold `size` bytes of capacity for an upload in flight; release exactly once. */
  reserve(size: number): Reservation {
    if (this.usedBytes + this.reservedBytes + size > this.capacityBytes) {
      throw xerr('XC_CAPACITY', undefined, { capacity: this.capacityBytes, used: this.usedBytes, reserved: this.reservedBytes, size })
    }
    this.reservedBytes += size
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        this.reservedBytes -= size
      },
    }
  }

  /**
   * Store a shard: check its bytes against the name first (garbage never touches the disk), write
   * a temp file, fsync it, rename into place, fsync the folder. Throws XC_SIZE_MISMATCH /
   * XC_HASH_MISMATCH and leaves nothing behind on any failure.
   */
  async put(hash: string, data: Buffer): Promise<StoredShard> {
    const final = this.pathOf(hash)
    const digest = createHash('sha256').update(data).digest('hex')
    if (digest !== hash) throw xerr('XC_HASH_MISMATCH', `received bytes hash to ${digest}, not ${hash}`)
    const tmp = join(this.opts.tmpDir, `${randomBytes(12).toString('hex')}.part`)
    const dirReady = this.ensureDir(dirname(final))
    dirReady.catch(() => {}) // awaited below; never an unhandled rejection if the write fails first
    let committed = false
    try {
      // Written and fdatasynced: the bytes and the file length, all a rename-into-place needs.
      await this.writer.writeFile(tmp, data)
      await dirReady
      const result = await this.commit(tmp, final, hash, data.length)
      committed = true
      return result
    } catch (err) {
      throw err instanceof XError ? err : new XError('XC_LOCAL_IO', (err as Error).message)
    } finally {
      if (!committed) await unlink(tmp).catch(() => {})
    }
  }

  /** Open a stored shard for reading; XC_NOT_FOUND if absent. The caller closes the handle. */
  async openRead(hash: string): Promise<{ fh: FileHandle; size: number }> {
    let fh: FileHandle
    try {
      fh = await open(this.pathOf(hash), 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw xerr('XC_NOT_FOUND', `no shard ${hash}`)
      throw err
    }
    try {
      const s = await fh.stat()
      if (!s.isFile()) throw xerr('XC_NOT_FOUND', `no shard ${hash}`)
      return { fh, size: s.size }
    } catch (err) {
      await fh.close().catch(() => {})
      throw err
    }
  }

  /**
   * A whole stored shard in a buffer of the pool (give it back with releaseBuffer), read straight
   * from the device where the file system allows (direct-io.ts); XC_NOT_FOUND if absent.
   */
  async readWhole(hash: string): Promise<Buffer> {
    let buf: Buffer | null
    try {
      buf = await this.writer.readFile(this.pathOf(hash))
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') throw xerr('XC_NOT_FOUND', `no shard ${hash}`)
      throw err
    }
    if (!buf) throw xerr('XC_LOCAL_IO', `shard ${hash} is larger on disk than any shard can be`)
    return buf
  }

  /**
   * Read a whole shard (audits, and answering for a shard already held); null if absent.
   * Bounded: a shard file larger than the protocol allows is not read into memory.
   */
  async readAll(hash: string): Promise<Buffer | null> {
    let opened: { fh: FileHandle; size: number }
    try {
      opened = await this.openRead(hash)
    } catch (err) {
      if (err instanceof XError && err.code === 'XC_NOT_FOUND') return null
      throw err
    }
    const { fh, size } = opened
    try {
      if (size > SHARD_SIZE) throw xerr('XC_LOCAL_IO', `shard ${hash} is ${size} bytes on disk, more than any shard can be`)
      const buf = Buffer.allocUnsafe(size)
      return buf.subarray(0, await readInto(fh, buf, size, 0))
    } finally {
      await fh.close()
    }
  }

  /**
   * Mark a held shard as stored again now (an upload of bytes already here). False when it is
   * not there (a delete order removed it meanwhile): the caller must store it again.
   */
  touch(hash: string): Promise<boolean> {
    const path = this.pathOf(hash)
    return this.serial(hash, async () => {
      const now = new Date()
      try {
        await utimes(path, now, now)
        return true
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
        throw err
      }
    })
  }

  /**
   * Remove a shard unless it was stored (or stored again) after `notAfter` (Unix ms; omit to
   * remove unconditionally). The caller fsyncs the folders it returns (`dir`), once per batch.
   */
  remove(hash: string, notAfter?: number): Promise<{ outcome: RemoveOutcome; dir: string }> {
    const path = this.pathOf(hash)
    const dir = dirname(path)
    return this.serial(hash, async () => {
      let s: Awaited<ReturnType<typeof stat>>
      try {
        s = await stat(path)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'missing' as const, dir }
        throw err
      }
      if (!s.isFile()) return { outcome: 'missing' as const, dir }
      if (notAfter !== undefined && s.mtimeMs > notAfter) return { outcome: 'kept' as const, dir }
      try {
        await unlink(path)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'missing' as const, dir }
        throw err
      }
      this.usedBytes -= s.size
      this.shardCount--
      return { outcome: 'deleted' as const, dir }
    })
  }

  /** fsync folders whose entries changed, so removals survive a crash. */
  async syncDirs(dirs: Iterable<string>): Promise<void> {
    await Promise.all([...new Set(dirs)].map((d) => fsyncDir(d).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })))
  }

  /** Run `fn` after every earlier commit, touch or removal of this hash has finished. */
  private async serial<T>(hash: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.busy.get(hash) ?? Promise.resolve()
    const run = prev.then(fn)
    const tail = run.catch(() => {})
    this.busy.set(hash, tail)
    try {
      return await run
    } finally {
      if (this.busy.get(hash) === tail) this.busy.delete(hash)
    }
  }

  private commit(tmp: string, final: string, hash: string, size: number): Promise<StoredShard> {
    return this.serial(hash, () => this.commitNow(tmp, final, size))
  }

  private async commitNow(tmp: string, final: string, size: number): Promise<StoredShard> {
    const existing = await this.sizeOfPath(final)
    // Same name and same size: the same bytes (the name is their hash). Keep the old file, but it
    // counts as stored again now (see the overview: delete orders compare mtimes).
    if (existing === size) {
      await unlink(tmp).catch(() => {})
      const now = new Date()
      await utimes(final, now, now)
      return { created: false }
    }
    const dir = dirname(final)
    await rename(tmp, final)
    // Stored as of now, not as of when the bytes were written: a delete order issued while this
    // upload was on its way must not remove what the receipt is about to vouch for.
    const now = new Date()
    await utimes(final, now, now)
    await fsyncDir(dir)
    // A different size under the same name was a damaged copy that this one replaced.
    if (existing !== null) this.usedBytes -= existing
    else this.shardCount++
    this.usedBytes += size
    return { created: existing === null }
  }

  private async sizeOfPath(p: string): Promise<number | null> {
    try {
      return (await stat(p)).size
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
  }

  /** Make the fan-out folder exist durably: a new folder's entry must be fsynced in its parent. */
  private ensureDir(dir: string): Promise<void> {
    if (this.dirs.has(dir)) return Promise.resolve()
    let pending = this.dirsPending.get(dir)
    if (!pending) {
      pending = (async () => {
        // mkdir answers the first folder it created: the leaf, or its parent too.
        const first = await mkdir(dir, { recursive: true, mode: 0o700 })
        if (first !== undefined) {
          const parent = dirname(dir)
          await Promise.all([fsyncDir(parent), first === parent ? fsyncDir(dirname(parent)) : undefined])
        }
        this.dirs.add(dir)
      })().finally(() => this.dirsPending.delete(dir))
      this.dirsPending.set(dir, pending)
    }
    return pending
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}

/** Count shards and their bytes. Names that are not hashes (editor leftovers, notes) are ignored. */
export async function scanShards(shardsDir: string): Promise<{ used: number; count: number }> {
  let used = 0
  let count = 0
  const list = async (dir: string): Promise<string[]> => {
    try {
      return await readdir(dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return []
      throw err
    }
  }
  for (const a of await list(shardsDir)) {
    if (!/^[0-9a-f]{2}$/.test(a)) continue
    for (const b of await list(join(shardsDir, a))) {
      if (!/^[0-9a-f]{2}$/.test(b)) continue
      const dir = join(shardsDir, a, b)
      const names = (await list(dir)).filter((n) => HASH_RE.test(n) && n.startsWith(a + b))
      const sizes = await Promise.all(names.map((n) => stat(join(dir, n)).then((s) => (s.isFile() ? s.size : -1), () => -1)))
      for (const s of sizes) {
        if (s < 0) continue
        used += s
        count++
      }
    }
  }
  return { used, count }
}
