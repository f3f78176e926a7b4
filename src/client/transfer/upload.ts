/**
 * Upload pipeline: read plaintext shard by shard → encrypt (fresh file key per version, fresh IV
 * per shard) → hash → ask the bridge for placement in small batches → PUT each shard to all its
 * mirrors in parallel → hand the hosts' receipts to the bridge → commit the version.
 *
 * Memory is bounded by construction: at most `groupsInFlight` batches of `groupSize` encrypted
 * shards exist at once, plus one sealed ahead and one being sealed (`xcloud put`, 3 in flight:
 * 5 × 5 × 2 MiB = 50 MiB), whatever the file size. A mirror that
 * fails is replaced by the bridge with another host, and one that lags gets a stand-in; the
 * version commits only when every shard has receipts from as many hosts as it has mirrors.
 *
 * For proof of availability, each new shard also gets CHALLENGES_PER_SHARD challenges (a random
 * salt and SHA-256(salt ‖ ciphertext)), handed to the bridge with the receipts: the bridge can
 * later audit hosts without ever holding the bytes.
 *
 * Encryption, the shard hash and the challenges (a CTR pass and three SHA-256 passes) run on the
 * crypto worker for pooled shards, so the main thread keeps writing to the hosts' sockets; the
 * shard's IV is still drawn here, fresh for every encryption. A group's shards go to the worker in
 * one job, and a group is as many shards as fill the worker's sixteen SHA-256 lanes (five, with
 * two challenges each).
 */
import { randomBytes } from 'node:crypto'
import { XError, toXError } from '../../shared/errors.js'
import { parallelMap, readAhead } from '../../shared/pipeline.js'
import { challengeDigest } from '../../shared/orders.js'
import { CHALLENGES_PER_SHARD, SHARD_SIZE, type ShardChallenges, type CommitRequest, type CommitResponse, type HostContact, type Receipt, type ShardPlacement } from '../../shared/protocol.js'
import { shardCount, shardLength } from '../../shared/sharding.js'
import { shardBuffers } from './buffers.js'

/** Ciphertexts at least this long use the shard buffer pool (and are sealed on the crypto worker). */
export const POOLED_MIN = 256 * 1024
import { SHARD_IV_BYTES, encryptShard, generateFileKey, sealManifest, wrapKey, type ManifestShard } from '../../shared/crypto/index.js'
import { cryptoPool, lostWithWorker, sealBatchSize, movable, type CryptoPool } from './crypto-pool.js'
import type { BridgeClient } from '../remote/bridge-client.js'
import { putShard } from './host-client.js'

export const FILE_KEY_AAD = 'xc-fk-v1'

/** Where plaintext comes from: a size and random access by shard. */
export interface ShardSource {
  readonly size: number
  read(index: number, length: number): Promise<Buffer>
  /**
   * Take back a buffer `read` returned, once it is no longer used. A shard encrypted in place comes
   * back as a Buffer over the same memory, holding its ciphertext: the one `read` returned went to
   * the crypto worker and back.
   */
  release?(buf: Buffer): void
}

export interface UploadOptions {
  groupSize?: number
  groupsInFlight?: number
  /** Called with plaintext bytes stored so far (on all mirrors). */
  onProgress?: (bytes: number) => void
  /** How often one shard may ask the bridge for a replacement host. */
  maxReplacements?: number
  /** Proof-of-availability challenges computed per new shard (default CHALLENGES_PER_SHARD). */
  challenges?: number
  /**
   * Write a new version of an existing one: keep its file key, and take the shards `reuse`
   * returns unchanged (they are already on their mirrors). Every other shard is encrypted with a
   * fresh IV, so no (key, IV) pair ever covers two different plaintexts.
   */
  base?: { fileKey: Buffer; reuse(index: number): ManifestShard | undefined }
  /** The threads that encrypt and hash shards (the process's pool unless given). */
  cryptoPool?: CryptoPool
}

interface Sealed {
  iv: Buffer
  ciphertext: Buffer
  hash: string
  /** SHA-256(salt ‖ ciphertext), one per challenge salt. */
  digests: string[]
}

/** A shard read and waiting to be sealed with others (encrypted in place, in its own buffer). */
interface ToSeal {
  index: number
  length: number
  plain: Buffer
  salts: Buffer[]
}

interface EncryptedPiece extends ManifestShard {
  ciphertext: Buffer
  challenges: ShardChallenges
  /** Give the ciphertext's buffer back to where it came from, once every mirror is written. */
  release(): void
}

export type UploadBridge = Pick<BridgeClient, 'createUpload' | 'place' | 'replace' | 'receipts' | 'commit'>

export async function uploadVersion(
  bridge: UploadBridge,
  fileWrapKey: Buffer,
  source: ShardSource,
  target: CommitRequest['target'],
  baseVersionId: string | null,
  opts: UploadOptions = {},
): Promise<CommitResponse> {
  const fileKey = opts.base?.fileKey ?? generateFileKey()
  const upload = await bridge.createUpload()
  const count = shardCount(source.size)
  const timer = new PutTimer()
  const manifestShards: ManifestShard[] = new Array(count)
  let done = 0

  const challenges = opts.challenges ?? CHALLENGES_PER_SHARD
  const groupSize = opts.groupSize ?? sealBatchSize(challenges)

  const piece = (index: number, size: number, salts: Buffer[], sealed: Sealed, release: () => void): EncryptedPiece => {
    const pairs = salts.map((salt, i) => ({ salt: salt.toString('base64url'), digest: sealed.digests[i]! }))
    return { index, size, iv: sealed.iv, hash: sealed.hash, ciphertext: sealed.ciphertext, challenges: { hash: sealed.hash, pairs }, release }
  }
  const readShard = async (index: number, length: number): Promise<Buffer> => {
    const plain = await source.read(index, length)
    if (plain.length !== length) throw new XError('XC_LOCAL_IO', `short read of shard ${index}: file changed while uploading`)
    return plain
  }

  /** Sealed on this thread into a buffer of the pool; the plaintext's buffer goes back at once. */
  const sealedHere = (index: number, length: number, plain: Buffer, salts: Buffer[]): EncryptedPiece => {
    // Small shards (small files) get a buffer of their own size: a pooled 2 MiB one each would
    // make many small uploads in flight hold megabytes for bytes.
    const pooled = length >= POOLED_MIN
    const out = pooled ? shardBuffers.acquire(length) : Buffer.allocUnsafe(length)
    const { iv, ciphertext, hash } = encryptShard(fileKey, plain, undefined, out)
    source.release?.(plain)
    const digests = salts.map((salt) => challengeDigest(salt.toString('base64url'), ciphertext))
    return piece(index, length, salts, { iv, ciphertext, hash, digests }, pooled ? () => shardBuffers.release(out) : () => {})
  }

  /**
   * Shards sealed in one job on the crypto worker, so that their hashes and challenges run side
   * by side; the main thread stays free to feed the hosts' sockets. Each is encrypted in place:
   * its ciphertext goes to the hosts from the buffer the source filled, which goes back to the
   * source once its group is stored. Each shard's IV is still drawn here, fresh for every
   * encryption.
   */
  const sealOnWorker = async (shards: ToSeal[]): Promise<EncryptedPiece[]> => {
    const ivs = shards.map(() => randomBytes(SHARD_IV_BYTES))
    try {
      const sealed = await (opts.cryptoPool ?? cryptoPool()).sealMany(shards.map((s, i) => ({ key: fileKey, iv: ivs[i]!, plain: s.plain, out: s.plain, salts: s.salts })))
      return sealed.map((r, i) => {
        const s = shards[i]!
        const ciphertext = r.ciphertext
        return piece(s.index, s.length, s.salts, { iv: ivs[i]!, ciphertext, hash: r.hash, digests: r.digests }, () => source.release?.(ciphertext))
      })
    } catch (err) {
      if (!lostWithWorker(err)) throw err
      // The buffers went with a worker that died: read the shards again and seal them here.
      const pieces: EncryptedPiece[] = []
      for (const s of shards) pieces.push(sealedHere(s.index, s.length, await readShard(s.index, s.length), s.salts))
      return pieces
    }
  }

  /** The new shards in groups of `groupSize`, each encrypted, hashed and with its challenges. */
  async function* sealedGroups(): AsyncGenerator<EncryptedPiece[]> {
    let group: EncryptedPiece[] = []
    let toSeal: ToSeal[] = []
    /** The group so far, with what waits to be sealed sealed; a new group starts. */
    const complete = async (): Promise<EncryptedPiece[]> => {
      const sealing = toSeal
      toSeal = []
      if (sealing.length) group.push(...await sealOnWorker(sealing))
      const full = group
      group = []
      return full
    }
    try {
      for (let index = 0; index < count; index++) {
        const length = shardLength(index, source.size)
        const kept = opts.base?.reuse(index)
        if (kept && kept.size === length && kept.index === index) {
          manifestShards[index] = kept
          done += length
          continue
        }
        const plain = await readShard(index, length)
        // A ciphertext's buffer goes back once its group is stored (every mirror written, every
        // stand-in cancelled). A cancelled request cannot send bytes from a reused buffer that a
        // host would keep: hosts check every shard's hash while receiving it.
        const salts = Array.from({ length: challenges }, () => randomBytes(16))
        if (length >= POOLED_MIN && movable(plain)) toSeal.push({ index, length, plain, salts })
        else group.push(sealedHere(index, length, plain, salts))
        if (group.length + toSeal.length >= groupSize) yield await complete()
      }
      const last = await complete()
      if (last.length) yield last
    } finally {
      // Shards read or sealed but never handed on: the upload failed or stopped early.
      for (const p of group) p.release()
      for (const s of toSeal) source.release?.(s.plain)
    }
  }

  const storeGroup = async (group: EncryptedPiece[]): Promise<void> => {
    const placed = await bridge.place(upload.uploadId, group.map((p) => ({ hash: p.hash, size: p.size })))
    const byHash = new Map(placed.placements.map((p) => [p.hash, p]))
    const receipts: Receipt[] = []
    await Promise.all(group.map(async (piece) => {
      const placement = byHash.get(piece.hash)
      if (!placement) throw new XError('XC_INTERNAL', `bridge placed no hosts for shard ${piece.index}`)
      receipts.push(...await storeOnMirrors(bridge, upload.uploadId, piece, placement, placed.hosts, opts.maxReplacements ?? 4, timer))
      manifestShards[piece.index] = { index: piece.index, size: piece.size, iv: piece.iv, hash: piece.hash }
    }))
    await bridge.receipts(upload.uploadId, receipts, group.filter((p) => p.challenges.pairs.length > 0).map((p) => p.challenges))
    for (const piece of group) {
      done += piece.size
      piece.release()
    }
    opts.onProgress?.(done)
  }

  // A group sealed ahead and never stored (the upload failed or stopped) gives its buffers back.
  // A group whose storing failed keeps them: stand-ins may still be sending from them.
  const ahead = readAhead(sealedGroups(), (group) => { for (const p of group) p.release() })
  for await (const _ of parallelMap(ahead, opts.groupsInFlight ?? 2, storeGroup)) { /* drained */ }

  const manifest = sealManifest(fileKey, { v: 1, size: source.size, shardSize: SHARD_SIZE, shards: manifestShards })
  return bridge.commit(upload.uploadId, {
    target,
    baseVersionId,
    size: source.size,
    wrappedKey: wrapKey(fileWrapKey, fileKey, FILE_KEY_AAD),
    manifest: manifest.toString('base64url'),
    shards: manifestShards.map((s) => ({ hash: s.hash, size: s.size })),
  })
}

/**
 * How long a mirror's PUT may take before a second host is asked to stand in: several times the
 * typical PUT of this upload, never under `minMs`. A host stalled in fsync (or overloaded) must
 * not hold the whole pipeline.
 */
export class PutTimer {
  private typicalMs = 0

  constructor(private readonly minMs = 3_000) {}

  observe(ms: number): void {
    this.typicalMs = this.typicalMs === 0 ? ms : this.typicalMs * 0.8 + ms * 0.2
  }

  hedgeAfterMs(): number {
    return Math.max(this.minMs, this.typicalMs * 5)
  }
}

/**
 * Fill each of the shard's mirror slots with a receipt. A host that fails is replaced by one the
 * bridge picks; a host that lags gets a stand-in started beside it, and whichever stores the
 * shard first fills the slot (the other request is cancelled).
 */
async function storeOnMirrors(
  bridge: UploadBridge,
  uploadId: string,
  piece: EncryptedPiece,
  placement: ShardPlacement,
  hosts: Record<string, HostContact>,
  maxReplacements: number,
  timer: PutTimer,
): Promise<Receipt[]> {
  const excluded = new Set<string>()
  let replacements = 0

  const replacement = async (): Promise<{ hostId: string; token: string; contact: HostContact }> => {
    if (++replacements > maxReplacements) throw new XError('XC_NOT_ENOUGH_HOSTS', `shard ${piece.index}: ${excluded.size} hosts failed or stalled`)
    const again = await bridge.replace(uploadId, piece.hash, [...excluded])
    const next = again.placements[0]?.targets[0]
    const contact = next ? again.hosts[next.hostId] : undefined
    if (!next || !contact) throw new XError('XC_NOT_ENOUGH_HOSTS', `no replacement host for shard ${piece.index}`)
    return { hostId: next.hostId, token: next.token, contact }
  }

  const fillSlot = (first: { hostId: string; token: string }): Promise<Receipt> => new Promise((resolve, reject) => {
    const active = new Map<string, AbortController>()
    let settled = false
    let lastError: XError | undefined
    let hedge: NodeJS.Timeout | undefined
    const finish = (err: XError | null, receipt?: Receipt): void => {
      if (settled) return
      settled = true
      clearTimeout(hedge)
      for (const ac of active.values()) ac.abort()
      if (err) reject(err)
      else resolve(receipt!)
    }
    const startReplacement = (): void => {
      replacement().then(start, (err: unknown) => {
        // No stand-in to be had: keep waiting for what is running, else give up.
        if (active.size === 0) finish(toXError(lastError ?? err))
      })
    }
    const start = (t: { hostId: string; token: string; contact?: HostContact }): void => {
      if (settled) return
      const contact = t.contact ?? hosts[t.hostId]
      if (!contact) { finish(new XError('XC_INTERNAL', `bridge named host ${t.hostId} without its contact`)); return }
      excluded.add(t.hostId)
      const ac = new AbortController()
      active.set(t.hostId, ac)
      const began = performance.now()
      clearTimeout(hedge)
      hedge = setTimeout(() => { if (!settled && active.size < 2) startReplacement() }, timer.hedgeAfterMs())
      putShard(contact, t.token, piece.hash, piece.ciphertext, { signal: ac.signal }).then((receipt) => {
        active.delete(t.hostId)
        timer.observe(performance.now() - began)
        finish(null, receipt)
      }, (err: unknown) => {
        if (!active.delete(t.hostId) || settled) return // cancelled by us
        const x = toXError(err)
        lastError = x
        if (!x.retryable && x.code !== 'XC_CAPACITY' && x.code !== 'XC_NOT_FOUND') { finish(x); return }
        if (active.size === 0) startReplacement()
      })
    }
    start(first)
  })

  return Promise.all(placement.targets.map((t) => fillSlot(t)))
}
