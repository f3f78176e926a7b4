/**
 * Plaintext of committed file versions, shard by shard, for the read path: only the shards that
 * cover a read are fetched (through the ShardFetcher: mirrors chosen by measured speed, hedging,
 * hash checks, fallback to other mirrors), recent shards stay in a bounded in-memory cache, and a
 * sequential reader gets the next shards fetched ahead of it, from several hosts at once.
 * While a shard's plaintext is in the cache it can also be announced to a ShardMemory (the mount's
 * native reads), which is told to let go of it before its buffer is used for anything else.
 */
import { XError } from '../../shared/errors.js'
import type { BridgeClient } from '../remote/bridge-client.js'
import { ShardFetcher } from '../transfer/fetcher.js'
import { shardBuffers } from '../transfer/buffers.js'

export interface RemoteContentOptions {
  /** Plaintext shards kept in memory (2 MiB each). */
  cacheShards?: number
  /** Shards fetched ahead of a sequential reader. */
  readAhead?: number
}

/** Readers of shard plaintexts outside JavaScript: told of each one in memory, and of its end. */
export interface ShardMemory {
  put(content: number, idx: number, buf: Buffer): void
  /** Once this returns, nothing reads the buffer put for (content, idx) any more. */
  drop(content: number, idx: number): void
}

/** Content numbers (one per version) are unique in the process, whichever cache gave them. */
let nextContent = 1
const CONTENT_IDS_MAX = 4096

interface Entry {
  versionId: string
  idx: number
  promise: Promise<Buffer>
  buf?: Buffer
  /** Announced to `memory` under this content number, until dropped. */
  announced?: number
  /** Readers copying out of it right now; an evicted entry's buffer is pooled once this is 0. */
  pins: number
  evicted: boolean
}

export class RemoteContent {
  private readonly fetchers = new Map<string, Promise<ShardFetcher>>()
  /** key `${versionId}:${idx}`; Map order is least recently used first. */
  private readonly cache = new Map<string, Entry>()
  private readonly lastRead = new Map<string, number>()
  private readonly cacheShards: number
  /** Shards fetched from hosts so far (cache misses). */
  fetched = 0
  private readonly readAhead: number
  private readonly contents = new Map<string, number>()
  private memoryHook: ShardMemory | null = null

  constructor(private readonly bridge: Pick<BridgeClient, 'content' | 'tokens' | 'report'>, private readonly fileWrapKey: Buffer, opts: RemoteContentOptions = {}) {
    this.cacheShards = Math.max(4, opts.cacheShards ?? 24)
    this.readAhead = Math.max(0, Math.min(opts.readAhead ?? 12, this.cacheShards - 4))
  }

  /** Where shards in memory are announced from now on (null: nowhere); the old one lets go of all. */
  set memory(m: ShardMemory | null) {
    for (const e of this.cache.values()) this.unannounce(e)
    this.memoryHook = m
    if (m) for (const e of this.cache.values()) if (!e.evicted) this.announce(e)
  }

  /** The content number of a version: what ShardMemory and the native reads know it by. */
  contentId(versionId: string): number {
    let c = this.contents.get(versionId)
    if (c === undefined) {
      c = nextContent++
      this.contents.set(versionId, c)
      if (this.contents.size > CONTENT_IDS_MAX) this.contents.delete(this.contents.keys().next().value!)
    }
    return c
  }

  private announce(entry: Entry): void {
    const m = this.memoryHook
    if (!m || !entry.buf || entry.buf.length === 0 || entry.announced !== undefined) return
    entry.announced = this.contentId(entry.versionId)
    m.put(entry.announced, entry.idx, entry.buf)
  }

  private unannounce(entry: Entry): void {
    if (entry.announced === undefined) return
    this.memoryHook?.drop(entry.announced, entry.idx)
    entry.announced = undefined
  }

  /**
   * Keep the version a local edit starts from at hand until forget(): its key and manifest are
   * needed to commit the edit even after another device has moved the file to a newer version.
   */
  pin(remoteId: string, versionId: string): void {
    if (this.pinned.has(versionId)) return
    const f = this.fetcher(remoteId, versionId)
    this.pinned.set(versionId, f)
    f.catch(() => this.pinned.delete(versionId))
  }

  private readonly pinned = new Map<string, Promise<ShardFetcher>>()

  fetcher(remoteId: string, versionId: string): Promise<ShardFetcher> {
    const p = this.pinned.get(versionId)
    if (p) return p
    let f = this.fetchers.get(versionId)
    if (!f) {
      f = (async () => {
        const info = await this.bridge.content(remoteId)
        if (info.versionId !== versionId) throw new XError('XC_CONFLICT', 'the file changed on another device; its new version is on its way')
        return new ShardFetcher(this.bridge, this.fileWrapKey, info)
      })()
      this.fetchers.set(versionId, f)
      f.catch(() => this.fetchers.delete(versionId))
      if (this.fetchers.size > 64) this.fetchers.delete(this.fetchers.keys().next().value!)
    }
    return f
  }

  /**
   * Run `use` on shard `idx` of a version, as plaintext, and return its result. The buffer is
   * the cache's: `use` must copy what it needs before returning, and must not keep it.
   */
  async withShard<T>(remoteId: string, versionId: string, idx: number, use: (plain: Buffer) => T): Promise<T> {
    const prev = this.lastRead.get(versionId)
    this.lastRead.set(versionId, idx)
    if (this.lastRead.size > 256) this.lastRead.delete(this.lastRead.keys().next().value!)
    const entry = this.load(remoteId, versionId, idx)
    entry.pins++
    try {
      const buf = await entry.promise
      if (idx === (prev ?? -1) + 1) void this.readAhead_(remoteId, versionId, idx)
      return use(buf)
    } finally {
      entry.pins--
      if (entry.evicted && entry.pins === 0) this.recycle(entry)
    }
  }

  /**
   * withShard without waiting, for a shard whose plaintext is in memory already: runs `use` now
   * and returns its result, or returns undefined (and does nothing) when the shard is not there
   * yet. A read served from memory then answers in the same step, with no promise in between.
   */
  withShardNow<T>(remoteId: string, versionId: string, idx: number, use: (plain: Buffer) => T): { value: T } | undefined {
    const key = `${versionId}:${idx}`
    const entry = this.cache.get(key)
    const buf = entry?.buf
    if (!entry || !buf || entry.evicted) return undefined
    this.cache.delete(key)
    this.cache.set(key, entry)
    const prev = this.lastRead.get(versionId)
    this.lastRead.set(versionId, idx)
    if (idx === (prev ?? -1) + 1) void this.readAhead_(remoteId, versionId, idx)
    return { value: use(buf) }
  }

  private async readAhead_(remoteId: string, versionId: string, idx: number): Promise<void> {
    try {
      const fetcher = await this.fetcher(remoteId, versionId)
      const last = Math.min(fetcher.manifest.shards.length - 1, idx + this.readAhead)
      for (let i = idx + 1; i <= last; i++) this.load(remoteId, versionId, i).promise.catch(() => { /* a read that needs it retries */ })
    } catch { /* the read itself reports errors */ }
  }

  private load(remoteId: string, versionId: string, idx: number): Entry {
    const key = `${versionId}:${idx}`
    const hit = this.cache.get(key)
    if (hit) {
      this.cache.delete(key)
      this.cache.set(key, hit)
      return hit
    }
    const entry: Entry = { versionId, idx, promise: Promise.resolve(Buffer.alloc(0)), pins: 0, evicted: false }
    entry.promise = (async () => {
      const fetcher = await this.fetcher(remoteId, versionId)
      this.fetched++
      const plain = await fetcher.fetch(idx)
      entry.buf = plain
      if (entry.evicted) {
        if (entry.pins === 0) this.recycle(entry)
      } else {
        this.announce(entry)
      }
      return plain
    })()
    entry.promise.catch(() => { if (this.cache.get(key) === entry) this.cache.delete(key) })
    this.cache.set(key, entry)
    this.evict()
    return entry
  }

  private evict(): void {
    while (this.cache.size > this.cacheShards) {
      const [key, oldest] = this.cache.entries().next().value as [string, Entry]
      this.cache.delete(key)
      oldest.evicted = true
      this.unannounce(oldest)
      if (oldest.pins === 0) this.recycle(oldest)
    }
  }

  /** An evicted entry's buffer back to the pool, once it exists and nobody copies from it. */
  private recycle(entry: Entry): void {
    const buf = entry.buf
    if (!buf || buf.length === 0) return
    this.unannounce(entry)
    entry.buf = undefined
    shardBuffers.release(buf)
  }

  /** Forget a version (its file was overwritten or removed). */
  forget(versionId: string): void {
    this.fetchers.delete(versionId)
    this.pinned.delete(versionId)
    for (const [key, entry] of [...this.cache]) {
      if (!key.startsWith(`${versionId}:`)) continue
      this.cache.delete(key)
      entry.evicted = true
      this.unannounce(entry)
      if (entry.pins === 0) this.recycle(entry)
    }
  }

  get cachedBytes(): number {
    let n = 0
    for (const e of this.cache.values()) n += e.buf?.length ?? 0
    return n
  }
}
