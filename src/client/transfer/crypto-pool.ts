/**
 * A small pool of worker threads that verify and decrypt downloaded shards, and encrypt and hash
 * shards to upload (crypto-worker.ts). Verification stays exactly as strict as inline: SHA-256 of
 * the ciphertext against the authenticated manifest first, decryption only when it matches.
 * Workers are unref'd, so an idle pool never keeps a command alive.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { XError } from '../../shared/errors.js'
import type { SealRequest, SealResponse, VerifyDecryptRequest, VerifyDecryptResponse, WorkerReady } from './crypto-worker.js'

type Response = VerifyDecryptResponse | SealResponse

interface Pending {
  settle(m: Response): void
  reject(err: unknown): void
}

export interface Sealed {
  /** The plaintext buffer, back from the worker. */
  plain: Buffer
  ciphertext: Buffer
  /** Hex SHA-256 of the ciphertext. */
  hash: string
  /** Hex SHA-256(salt ‖ ciphertext), one per salt. */
  digests: string[]
}

/** Messages the worker's SHA-256 hashes side by side (the lanes of an AVX-512 register). */
export const SHA256_LANES = 16

/**
 * Shards to seal in one job: as many as fill the lanes with their messages (a shard's hash and
 * one challenge per salt), at least one.
 */
export function sealBatchSize(challenges: number): number {
  return Math.max(1, Math.floor(SHA256_LANES / (1 + challenges)))
}

/**
 * Buffers the pool can move to a worker and back: each starts its own ArrayBuffer, and that is
 * not Node's shared pool for small buffers (moving it would empty every other buffer cut from it).
 */
export function transferable(buf: Buffer): boolean {
  return buf.byteOffset === 0 && buf.buffer.byteLength > Buffer.poolSize
}

/**
 * Whether `err` is a job's failure because its worker died (exited, crashed, or sent what cannot be
 * read): the buffers it held are gone, but nothing is wrong with the data, and the job can be done
 * again from a fresh copy.
 */
export function lostWithWorker(err: unknown): boolean {
  return err instanceof XError && err.details?.workerLost === true
}

/** A worker and the jobs sent to it that it has not answered yet. */
interface Slot {
  worker: Worker
  jobs: Set<number>
  lost: boolean
  /** The worker said it can take jobs: its module is loaded. */
  ready: boolean
}

export class CryptoPool {
  private readonly slots: Slot[] = []
  private readonly pending = new Map<number, Pending>()
  private nextId = 0
  private turn = 0

  /** `script` is the worker's module; tests hand in workers that fail. */
  constructor(size: number, private readonly script: URL = new URL('./crypto-worker.js', import.meta.url)) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn())
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.script), jobs: new Set(), lost: false, ready: false }
    const w = slot.worker
    w.on('message', (m: Response | WorkerReady) => {
      if ('ready' in m) slot.ready = true
      else this.settle(slot, m)
    })
    w.on('error', (err) => this.lose(slot, err))
    w.on('messageerror', (err) => this.lose(slot, err))
    w.on('exit', (code) => this.lose(slot, new Error(`the crypto worker exited with code ${code}`)))
    // After the listeners: adding a 'message' listener refs the worker's port again, and a pool
    // made but never used would then keep the process alive.
    w.unref()
    return slot
  }

  /**
   * A worker that crashed, exited or sent what cannot be read: every job it still had fails (its
   * buffers are gone with it), and the next job starts a fresh worker in its place.
   */
  private lose(slot: Slot, err: unknown): void {
    if (slot.lost) return
    slot.lost = true
    void slot.worker.terminate()
    const reason = new XError('XC_INTERNAL', `shard crypto failed: ${(err as Error)?.message ?? String(err)}`, { workerLost: true })
    for (const id of slot.jobs) {
      const p = this.pending.get(id)
      this.pending.delete(id)
      p?.reject(reason)
    }
    slot.jobs.clear()
    this.unrefWhenIdle()
  }

  /**
   * Whether a worker has started. A thread takes tens of milliseconds to load its module; until
   * then a job would wait for it, and a caller with one shard to verify is better off doing it.
   */
  ready(): boolean {
    return this.slots.some((s) => s.ready && !s.lost)
  }

  private unrefWhenIdle(): void {
    if (this.pending.size === 0) for (const s of this.slots) s.worker.unref()
  }

  /**
   * Verify `data` against `hash` and, when it matches, decrypt it in place. The buffer must start
   * its own ArrayBuffer (pooled shard buffers do): it is transferred to the worker and back, and
   * comes back in the result, holding the plaintext when `ok` (else garbage).
   */
  verifyDecrypt(key: Buffer, iv: Buffer, hash: string, data: Buffer): Promise<{ ok: boolean; data: Buffer }> {
    if (!transferable(data)) throw new XError('XC_INTERNAL', 'crypto pool takes buffers that start their own ArrayBuffer')
    const length = data.length
    const msg: VerifyDecryptRequest = { op: 'verify', id: this.nextId++, key, iv, hash, buf: data.buffer as ArrayBuffer, length }
    return new Promise((resolve, reject) => {
      this.send(msg, {
        reject,
        settle: (m) => {
          if (m.error) reject(new XError('XC_DECRYPT', m.error))
          else resolve({ ok: (m as VerifyDecryptResponse).ok, data: Buffer.from((m as VerifyDecryptResponse).buf, 0, length) })
        },
      })
    })
  }

  /**
   * Encrypt `plain` into `out` (AES-256-CTR), hash the ciphertext, and compute one challenge per
   * salt. Both buffers must be transferable(); they come back in the result.
   */
  seal(key: Buffer, iv: Buffer, plain: Buffer, out: Buffer, salts: Buffer[]): Promise<Sealed> {
    return this.sealMany([{ key, iv, plain, out, salts }]).then((r) => r[0]!)
  }

  /**
   * Several shards sealed in one job: the worker hashes their ciphertexts and challenges side by
   * side (sealBatchSize() shards fill the lanes). Every shard must have as many salts. A
   * shard's `out` may be its `plain` (encrypted in place). Results in the order of `shards`.
   */
  sealMany(shards: readonly { key: Buffer; iv: Buffer; plain: Buffer; out: Buffer; salts: Buffer[] }[]): Promise<Sealed[]> {
    for (const s of shards) {
      if (!transferable(s.plain) || !transferable(s.out) || s.out.buffer.byteLength < s.plain.length) {
        throw new XError('XC_INTERNAL', 'crypto pool takes buffers that start their own ArrayBuffer')
      }
    }
    // Both start their ArrayBuffers (transferable), so a shard whose output shares its input's
    // memory is encrypted exactly in place; no two shards may share any.
    const inPlace = shards.filter((s) => s.out.buffer === s.plain.buffer).length
    if (new Set(shards.flatMap((s) => [s.plain.buffer, s.out.buffer])).size !== 2 * shards.length - inPlace) {
      throw new XError('XC_INTERNAL', 'crypto pool takes a buffer once per job')
    }
    // Lengths now: sending detaches the caller's buffers.
    const lengths = shards.map((s) => s.plain.length)
    const msg: SealRequest = {
      op: 'seal',
      id: this.nextId++,
      shards: shards.map((s) => ({ key: s.key, iv: s.iv, buf: s.plain.buffer as ArrayBuffer, out: s.out.buffer as ArrayBuffer, length: s.plain.length, salts: s.salts })),
    }
    return new Promise((resolve, reject) => {
      this.send(msg, {
        reject,
        settle: (m) => {
          const r = m as SealResponse
          if (r.error || r.shards.length !== lengths.length || r.shards.some((s) => s.hash === undefined || s.digests === undefined)) {
            reject(new XError('XC_INTERNAL', `shard encryption failed: ${r.error ?? 'no result'}`))
            return
          }
          resolve(r.shards.map((s, i) => ({ plain: Buffer.from(s.buf, 0, lengths[i]), ciphertext: Buffer.from(s.out, 0, lengths[i]), hash: s.hash!, digests: s.digests! })))
        },
      })
    })
  }

  private send(msg: VerifyDecryptRequest | SealRequest, pending: Pending): void {
    const i = this.turn++ % this.slots.length
    if (this.slots[i]!.lost) this.slots[i] = this.spawn()
    const slot = this.slots[i]!
    this.pending.set(msg.id, pending)
    slot.jobs.add(msg.id)
    slot.worker.ref()
    try {
      slot.worker.postMessage(msg, msg.op === 'seal' ? [...new Set(msg.shards.flatMap((s) => [s.buf, s.out]))] : [msg.buf])
    } catch (err) {
      // Nothing was sent: forget the job (the caller's promise rejects with this error).
      this.pending.delete(msg.id)
      slot.jobs.delete(msg.id)
      this.unrefWhenIdle()
      throw err
    }
  }

  private settle(slot: Slot, m: Response): void {
    slot.jobs.delete(m.id)
    const p = this.pending.get(m.id)
    if (!p) return
    this.pending.delete(m.id)
    this.unrefWhenIdle()
    p.settle(m)
  }
}

let pool: CryptoPool | undefined

/** The process-wide pool: one worker per core beyond the main thread's, 1 to 4. */
export function cryptoPool(): CryptoPool {
  pool ??= new CryptoPool(Math.max(1, Math.min(4, availableParallelism() - 1)))
  return pool
}
