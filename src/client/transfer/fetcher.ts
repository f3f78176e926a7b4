/**
 * Shard fetcher for one file version: the read half of the transfer engine.
 *
 * For each shard it picks the mirror expected to finish first (scoring.ts), starts a hedged second
 * request at another mirror when the first lags well behind its expected time, verifies the
 * ciphertext's SHA-256 against the authenticated manifest, falls back to the next mirror on
 * error, timeout or mismatch, and reports the failing host to the bridge. Only then it decrypts.
 * Get tokens come from the bridge in windows of shards, fetched lazily and renewed before expiry;
 * a reader halfway through a window already has the next one on its way, so a sequential read
 * never waits for the bridge between windows.
 */
import { XError, toXError } from '../../shared/errors.js'
import { MAX_BATCH_SHARDS, TOKEN_TTL_MS, type ContentInfo, type HostContact, type ReportReason, type ShardMirrors } from '../../shared/protocol.js'
import { decryptShard, openManifest, sha256Hex, unwrapKey, type Manifest } from '../../shared/crypto/index.js'
import type { BridgeClient } from '../remote/bridge-client.js'
import { getShard } from './host-client.js'
import { shardBuffers } from './buffers.js'
import { cryptoPool, lostWithWorker, movable, type CryptoPool } from './crypto-pool.js'
import { verifyDecryptInPlace } from './native-crypto.js'
import { HostScores, expectedMs, pickMirror } from './scoring.js'
import { FILE_KEY_AAD } from './upload.js'

export type FetchBridge = Pick<BridgeClient, 'tokens' | 'report'>

export interface FetcherOptions {
  /** Shards per token request. */
  window?: number
  /** Never hedge sooner than this. */
  minHedgeMs?: number
  /** Abort a request when no byte moves for this long. */
  idleTimeoutMs?: number
  scores?: HostScores
  /** The threads that verify and decrypt shards (the process's pool unless given). */
  pool?: CryptoPool
}

/** Shards at least this long are verified and decrypted on the crypto pool's threads. */
const POOLED_CRYPTO_MIN = 64 * 1024

/**
 * Shards in the first window of tokens. A reader's first shard waits for it, and the bridge signs
 * a token per mirror: 128 shards took it about 30 ms, where 16 take a few.
 */
const FIRST_WINDOW = 16

interface Window {
  fetchedAt: number
  shards: Map<number, ShardMirrors>
  hosts: Record<string, HostContact>
}

export class ShardFetcher {
  readonly manifest: Manifest
  readonly info: ContentInfo
  readonly fileKey: Buffer
  private readonly windows = new Map<number, Promise<Window>>()
  /** The windows that have arrived, for startCost's synchronous look. */
  private readonly loaded = new Map<number, Window>()
  private readonly windowSize: number
  readonly scores: HostScores

  constructor(private readonly bridge: FetchBridge, fileWrapKey: Buffer, info: ContentInfo, private readonly opts: FetcherOptions = {}) {
    this.info = info
    this.fileKey = unwrapKey(fileWrapKey, info.wrappedKey, FILE_KEY_AAD)
    this.manifest = openManifest(this.fileKey, Buffer.from(info.manifest, 'base64url'))
    if (this.manifest.size !== info.size || this.manifest.shards.length !== info.shardCount) {
      throw new XError('XC_MANIFEST_INVALID', 'bridge metadata disagrees with the authenticated manifest')
    }
    this.windowSize = Math.min(opts.window ?? 128, MAX_BATCH_SHARDS)
    this.scores = opts.scores ?? new HostScores()
    // A worker thread takes tens of milliseconds to start: start it while the first tokens and
    // connections are on their way, not when the first shard has arrived.
    if ((this.manifest.shards[0]?.size ?? 0) >= POOLED_CRYPTO_MIN) this.pool()
  }

  /** The window of tokens shard `index` is in: a short first one, then full ones. */
  private span(index: number): { start: number; size: number } {
    const first = Math.min(FIRST_WINDOW, this.windowSize)
    if (index < first) return { start: 0, size: first }
    return { start: first + Math.floor((index - first) / this.windowSize) * this.windowSize, size: this.windowSize }
  }

  private window(index: number, refresh = false): Promise<Window> {
    const { start, size } = this.span(index)
    const cached = this.windows.get(start)
    if (cached && !refresh) return cached
    const p = (async (): Promise<Window> => {
      const count = Math.min(size, this.manifest.shards.length - start)
      const res = await this.bridge.tokens(this.info.versionId, start, count)
      const shards = new Map<number, ShardMirrors>()
      for (const s of res.shards) shards.set(s.index, s)
      const w = { fetchedAt: Date.now(), shards, hosts: res.hosts }
      this.loaded.set(start, w)
      return w
    })()
    this.windows.set(start, p)
    p.catch(() => { if (this.windows.get(start) === p) this.windows.delete(start) })
    return p
  }

  private async mirrorsOf(index: number): Promise<{ entry: ShardMirrors; hosts: Record<string, HostContact> }> {
    let w = await this.window(index)
    if (Date.now() - w.fetchedAt > TOKEN_TTL_MS - 60_000) w = await this.window(index, true)
    const { start, size } = this.span(index)
    const next = start + size
    if (index - start >= size / 2 && next < this.manifest.shards.length && !this.windows.has(next)) {
      this.window(next).catch(() => { /* the read that needs it asks again */ })
    }
    const entry = w.shards.get(index)
    const want = this.manifest.shards[index]!
    if (!entry || entry.hash !== want.hash || entry.size !== want.size) {
      throw new XError('XC_MANIFEST_INVALID', `bridge's shard ${index} disagrees with the authenticated manifest`)
    }
    return { entry, hosts: w.hosts }
  }

  /**
   * How soon shard `index` could be had, in ms: the best of its mirrors' expected times (a busy
   * mirror looks slower). Undefined while its window of tokens has not arrived.
   */
  startCost(index: number): number | undefined {
    const w = this.loaded.get(this.span(index).start)
    const entry = w?.shards.get(index)
    if (!w || !entry) return undefined
    let best = Infinity
    for (const m of entry.mirrors) if (w.hosts[m.hostId]) best = Math.min(best, expectedMs(this.scores.get(m.hostId), entry.size))
    return best
  }

  /** How many hosts hold the first window of shards (0 for an empty file). */
  async hostCount(): Promise<number> {
    if (this.manifest.shards.length === 0) return 0
    return Object.keys((await this.window(0)).hosts).length
  }

  /** Fetch, verify and decrypt shard `index`. The result may be a pooled buffer: release it to
   * shardBuffers when done. */
  async fetch(index: number, signal?: AbortSignal): Promise<Buffer> {
    const shard = this.manifest.shards[index]
    if (!shard) throw new XError('XC_BAD_RANGE', `no shard ${index}`)
    if (shard.size === 0) return Buffer.alloc(0)
    const { entry, hosts } = await this.mirrorsOf(index)
    return this.race(entry, hosts, (data) => this.verifyDecrypt(data, shard.iv, shard.hash), signal)
  }

  /**
   * Plaintext if `data` hashes to `hash`, else null. Pooled shards are decrypted in place (the
   * plaintext is `data`'s buffer); otherwise, and on a mismatch, `data` goes back to the pool.
   */
  private async verifyDecrypt(data: Buffer, iv: Buffer, hash: string): Promise<Buffer | null> {
    if (!movable(data) || data.length < POOLED_CRYPTO_MIN) {
      // Small or foreign buffers: inline is cheaper than a thread hop.
      try {
        return sha256Hex(data) === hash ? decryptShard(this.fileKey, iv, data) : null
      } finally {
        shardBuffers.release(data)
      }
    }
    const pool = this.pool()
    // While the worker is still starting (a fresh process's first shards), one native pass here
    // takes a few milliseconds, where waiting for the thread took tens.
    const inline = pool.ready() ? null : verifyDecryptInPlace(this.fileKey, iv, data, hash)
    if (inline !== null) {
      if (inline) return data
      shardBuffers.release(data)
      return null
    }
    const r = await pool.verifyDecrypt(this.fileKey, iv, hash, data)
    if (r.ok) return r.data
    shardBuffers.release(r.data)
    return null
  }

  private pool(): CryptoPool {
    return this.opts.pool ?? cryptoPool()
  }

  private report(hostId: string, hash: string, reason: ReportReason): void {
    this.bridge.report({ hostId, hash, reason }).catch(() => { /* best effort: the read already moved on */ })
  }

  /** Hedged race over the mirrors of one shard; resolves with the first verified plaintext. */
  private race(entry: ShardMirrors, hosts: Record<string, HostContact>, verify: (data: Buffer) => Promise<Buffer | null>, signal?: AbortSignal): Promise<Buffer> {
    const { hash, size } = entry
    const untried = entry.mirrors.filter((m) => hosts[m.hostId])
    const active = new Map<string, AbortController>()
    /** Mirrors whose bytes were lost by our own crypto (its worker died): asked once more. */
    const askedAgain = new Set<string>()
    let settled = false
    let lastError: XError | undefined
    let hedgeTimer: NodeJS.Timeout | undefined

    return new Promise<Buffer>((resolve, reject) => {
      const finish = (err: XError | null, data?: Buffer): void => {
        if (settled) return
        settled = true
        clearTimeout(hedgeTimer)
        signal?.removeEventListener('abort', onAbort)
        for (const [hostId, ac] of active) { ac.abort(); this.scores.cancelled(hostId) }
        active.clear()
        if (err) reject(err)
        else resolve(data!)
      }
      const onAbort = (): void => finish(new XError('XC_TIMEOUT', 'read cancelled'))
      signal?.addEventListener('abort', onAbort)

      const startNext = (): void => {
        if (settled) return
        const candidates = untried.map((m) => this.scores.get(m.hostId))
        const pick = pickMirror(candidates, size)
        if (!pick) {
          if (active.size === 0) finish(lastError ? new XError('XC_ALL_MIRRORS_FAILED', `shard ${hash.slice(0, 12)}: ${lastError.message}`) : new XError('XC_ALL_MIRRORS_FAILED', `shard ${hash.slice(0, 12)} has no reachable mirror`))
          return
        }
        const mirror = untried.splice(untried.findIndex((m) => m.hostId === pick.id), 1)[0]!
        const ac = new AbortController()
        active.set(mirror.hostId, ac)
        const expected = expectedMs(pick, size)
        const { concurrent } = this.scores.begin(mirror.hostId)
        clearTimeout(hedgeTimer)
        if (untried.length > 0) {
          hedgeTimer = setTimeout(() => { if (active.size < 2) startNext() }, Math.max(this.opts.minHedgeMs ?? 250, expected * 3))
        }
        getShard(hosts[mirror.hostId]!, mirror.token, hash, size, { signal: ac.signal, idleTimeoutMs: this.opts.idleTimeoutMs })
          .then(async (r) => {
            if (!active.has(mirror.hostId)) { shardBuffers.release(r.data); return }
            let plain: Buffer | null
            try {
              plain = await verify(r.data)
            } catch (err) {
              // Our own failure, not the host's: no score, no report. Bytes lost with a crypto
              // worker that died are fetched again, from this mirror too.
              if (!active.has(mirror.hostId)) return
              active.delete(mirror.hostId)
              this.scores.cancelled(mirror.hostId)
              lastError = toXError(err)
              if (lostWithWorker(err) && !askedAgain.has(mirror.hostId)) {
                askedAgain.add(mirror.hostId)
                untried.unshift(mirror)
              }
              if (active.size === 0) startNext()
              return
            }
            if (!active.has(mirror.hostId)) {
              // Another mirror won (or the read was cancelled) while this one was verified.
              if (plain) shardBuffers.release(plain)
              return
            }
            active.delete(mirror.hostId)
            if (!plain) {
              this.scores.failure(mirror.hostId)
              this.report(mirror.hostId, hash, 'mismatch')
              lastError = new XError('XC_HASH_MISMATCH', `host ${mirror.hostId.slice(0, 12)} returned wrong bytes`)
              if (active.size === 0) startNext()
              return
            }
            this.scores.success(mirror.hostId, size, r.ms, r.firstByteMs, concurrent)
            finish(null, plain)
          }, (err: unknown) => {
            if (!active.has(mirror.hostId)) return // we aborted it
            active.delete(mirror.hostId)
            this.scores.failure(mirror.hostId)
            const x = toXError(err)
            lastError = x
            const tokenProblem = x.code.startsWith('XC_TOKEN')
            if (!tokenProblem) {
              this.report(mirror.hostId, hash, x.code === 'XC_TIMEOUT' ? 'timeout' : x.code === 'XC_SIZE_MISMATCH' ? 'mismatch' : 'error')
            }
            if (active.size === 0) startNext()
          })
      }
      startNext()
    })
  }
}
