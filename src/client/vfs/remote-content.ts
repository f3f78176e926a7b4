/**
 * Plaintext of committed file versions, shard by shard, for the read path: only the shards that
 * cover a read are fetched (through the ShardFetcher: mirrors chosen by measured speed, hedging,
 * hash checks, fallback to other mirrors), recent shards stay in a bounded in-memory cache, and a
 * sequential reader gets the next shards fetched ahead of it, from several hosts at once.
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

interface Entry {
  promise: Promise<Buffer>
  buf?: Buffer
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

  constructor(private readonly bridge: Pick<BridgeClient, 'content' | 'tokens' | 'report'>, private readonly fileWrapKey: Buffer, opts: RemoteContentOptions = {}) {
    this.cacheShards = Math.max(4, opts.cacheShards ?? 24)
    this.readAhead = Math.max(0, Math.min(opts.readAhead ?? 8, this.cacheShards - 2))
  }

  fetcher(remoteId: string, versionId: string): Promise<ShardFetcher> {
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

  /** Shard `idx` of a version, as plaintext. The buffer belongs to the cache: copy out of it, do not keep it. */
  async shard(remoteId: string, versionId: string, idx: number): Promise<Buffer> {
    const prev = this.lastRead.get(versionId)
    this.lastRead.set(versionId, idx)
    if (this.lastRead.size > 256) this.lastRead.delete(this.lastRead.keys().next().value!)
    const buf = await this.load(remoteId, versionId, idx)
    if (prev !== undefined && (idx === prev + 1 || idx === prev)) {
      const fetcher = await this.fetcher(remoteId, versionId)
      const last = Math.min(fetcher.manifest.shards.length - 1, idx + this.readAhead)
      for (let i = idx + 1; i <= last; i++) this.load(remoteId, versionId, i).catch(() => { /* a read that needs it will retry */ })
    }
    return buf
  }

  private load(remoteId: string, versionId: string, idx: number): Promise<Buffer> {
    const key = `${versionId}:${idx}`
    const hit = this.cache.get(key)
    if (hit) {
      this.cache.delete(key)
      this.cache.set(key, hit)
      return hit.promise
    }
    const entry: Entry = { promise: Promise.resolve(Buffer.alloc(0)) }
    entry.promise = (async () => {
      const fetcher = await this.fetcher(remoteId, versionId)
      this.fetched++
      const plain = await fetcher.fetch(idx)
      entry.buf = plain
      return plain
    })()
    entry.promise.catch(() => { if (this.cache.get(key) === entry) this.cache.delete(key) })
    this.cache.set(key, entry)
    this.evict()
    return entry.promise
  }

  private evict(): void {
    while (this.cache.size > this.cacheShards) {
      const [key, oldest] = this.cache.entries().next().value as [string, Entry]
      this.cache.delete(key)
      // Pooled buffers go back once nothing can still be copying out of them.
      oldest.promise.then((b) => setTimeout(() => { if (b.length > 0) shardBuffers.release(b) }, 1000), () => {})
    }
  }

  /** Forget a version (its file was overwritten or removed). */
  forget(versionId: string): void {
    this.fetchers.delete(versionId)
    for (const key of [...this.cache.keys()]) if (key.startsWith(`${versionId}:`)) this.cache.delete(key)
  }

  get cachedBytes(): number {
    let n = 0
    for (const e of this.cache.values()) n += e.buf?.length ?? 0
    return n
  }
}
