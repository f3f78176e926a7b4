/**
 * Shards on disk, named by their hash: shards/<h[0..2]>/<h[2..4]>/<hash>.
 *
 * Invariants:
 * - A file under shards/ only ever appears by rename from tmp/ after its bytes were hashed, matched
 *   the name and were fsynced; the folder is fsynced after the rename. A crash leaves either the
 *   whole shard or nothing (plus a temp file, swept at the next start).
 * - Paths are built only from names that match HASH_RE, which is also the path-traversal guard.
 * - `used` counts shard bytes on disk; `reserved` counts bytes of uploads in flight. New uploads
 *   are refused when used + reserved + size would exceed capacity.
 * Reads are not re-hashed here: clients verify every shard, audits catch rot.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { XError, xerr } from '../../shared/errors.js'
import { HASH_RE } from '../../shared/tokens.js'
import { SHARD_SIZE } from '../../shared/protocol.js'
import { DirectWriter } from '../../shared/direct-io.js'

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

export class ShardStore {
  private usedBytes = 0
  private shardCount = 0
  private reservedBytes = 0
  /** Fan-out folders known to exist, so the hot path skips mkdir. */
  private readonly dirs = new Set<string>()
  private readonly dirsPending = new Map<string, Promise<void>>()
  /** Commits of the same hash run one after another, so counters never double-count. */
  private readonly committing = new Map<string, Promise<unknown>>()

  private constructor(private readonly opts: ShardStoreOptions, private readonly writer: DirectWriter) {}

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
    return this.opts.capacity
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
    if (this.usedBytes + this.reservedBytes + size > this.opts.capacity) {
      throw xerr('XC_CAPACITY', undefined, { capacity: this.opts.capacity, used: this.usedBytes, reserved: this.reservedBytes, size })
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

  private async commit(tmp: string, final: string, hash: string, size: number): Promise<StoredShard> {
    const prev = this.committing.get(hash) ?? Promise.resolve()
    const run = prev.then(() => this.commitNow(tmp, final, size))
    const tail = run.catch(() => {})
    this.committing.set(hash, tail)
    try {
      return await run
    } finally {
      if (this.committing.get(hash) === tail) this.committing.delete(hash)
    }
  }

  private async commitNow(tmp: string, final: string, size: number): Promise<StoredShard> {
    const existing = await this.sizeOfPath(final)
    // Same name and same size: the same bytes (the name is their hash). Keep the old file.
    if (existing === size) {
      await unlink(tmp).catch(() => {})
      return { created: false }
    }
    const dir = dirname(final)
    await rename(tmp, final)
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
