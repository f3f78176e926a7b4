/**
 * A small pool of worker threads that verify and decrypt downloaded shards, and encrypt and hash
 * shards to upload (crypto-worker.ts). Verification stays exactly as strict as inline: SHA-256 of
 * the ciphertext against the authenticated manifest first, decryption only when it matches.
 * Workers are unref'd, so an idle pool never keeps a command alive.
 *
 * Buffers go to a worker without a copy. The client's pooled shard buffers are shared memory
 * (buffers.ts): each goes to a worker once, and jobs name it by number. Other buffers are
 * transferred there and back. Each transfer makes a new ArrayBuffer object on the receiving side,
 * which V8 counts as 2 MiB more external memory until a collection finds the old one dead: over a
 * 1 GiB cold read through the mount, 60 young-generation collections "for external memory
 * pressure" and a few full ones. With the shared pool, none of the former (bench/RESULTS.md).
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { XError } from '../../shared/errors.js'
import type { BufferRef, ForgetRequest, SealRequest, SealResponse, VerifyDecryptRequest, VerifyDecryptResponse, WorkerReady } from './crypto-worker.js'

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

/** Buffers the pool takes: shared memory from its start, or transferable ones. */
export function movable(buf: Buffer): boolean {
  return buf.byteOffset === 0 && (buf.buffer instanceof SharedArrayBuffer || transferable(buf))
}

/** Numbers of shared buffers, the same for every pool and worker (BufferRef). */
const sharedNumbers = new WeakMap<SharedArrayBuffer, number>()
let nextShared = 1

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
  /** Shared buffers the worker has been sent, by number. */
  shared: Set<number>
}

export class CryptoPool {
  private readonly slots: Slot[] = []
  private readonly pending = new Map<number, Pending>()
  private nextId = 0
  private turn = 0
  /** Shared buffers this pool's workers were sent; when the main thread drops one, they do too. */
  private readonly sent = new WeakSet<SharedArrayBuffer>()
  private readonly dropped = new FinalizationRegistry<number>((n) => this.forget(n))

  /** `script` is the worker's module; tests hand in workers that fail. */
  constructor(size: number, private readonly script: URL = new URL('./crypto-worker.js', import.meta.url)) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn())
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.script), jobs: new Set(), lost: false, ready: false, shared: new Set() }
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
   * A worker that crashed, exited or sent what cannot be read: every job it still had fails, and
   * the next job starts a fresh worker in its place. A failed job's buffers are gone to the
   * caller: moved ones went with the worker, and shared ones may still be written by it until it
   * has stopped, so callers never release or reuse them (they read the shard again instead).
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
   * Verify `data` against `hash` and, when it matches, decrypt it in place. The buffer must be
   * movable() (pooled shard buffers are): it comes back in the result, holding the plaintext when
   * `ok` (else garbage). Until then it belongs to the worker.
   */
  verifyDecrypt(key: Buffer, iv: Buffer, hash: string, data: Buffer): Promise<{ ok: boolean; data: Buffer }> {
    if (!movable(data)) throw new XError('XC_INTERNAL', 'crypto pool takes buffers that start their own or shared memory')
    const length = data.length
    return new Promise((resolve, reject) => {
      this.send((ref) => ({ op: 'verify', id: this.nextId++, key, iv, hash, buf: ref(data), length }), {
        reject,
        settle: (m) => {
          const r = m as VerifyDecryptResponse
          if (r.error) reject(new XError('XC_DECRYPT', r.error))
          else resolve({ ok: r.ok, data: r.buf ? Buffer.from(r.buf, 0, length) : data })
        },
      })
    })
  }

  /**
   * Encrypt `plain` into `out` (AES-256-CTR), hash the ciphertext, and compute one challenge per
   * salt. Both buffers must be movable(); they come back in the result.
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
      if (!movable(s.plain) || !movable(s.out) || s.out.buffer.byteLength < s.plain.length) {
        throw new XError('XC_INTERNAL', 'crypto pool takes buffers that start their own or shared memory')
      }
    }
    // Each starts its memory, so a shard whose output shares its input's memory is encrypted
    // exactly in place; no two shards may share any.
    const inPlace = shards.filter((s) => s.out.buffer === s.plain.buffer).length
    if (new Set(shards.flatMap((s) => [s.plain.buffer, s.out.buffer])).size !== 2 * shards.length - inPlace) {
      throw new XError('XC_INTERNAL', 'crypto pool takes a buffer once per job')
    }
    const lengths = shards.map((s) => s.plain.length)
    return new Promise((resolve, reject) => {
      this.send((ref) => ({
        op: 'seal',
        id: this.nextId++,
        shards: shards.map((s) => ({ key: s.key, iv: s.iv, buf: ref(s.plain), out: ref(s.out), length: s.plain.length, salts: s.salts })),
      }), {
        reject,
        settle: (m) => {
          const r = m as SealResponse
          if (r.error || r.shards.length !== lengths.length || r.shards.some((s) => s.hash === undefined || s.digests === undefined)) {
            reject(new XError('XC_INTERNAL', `shard encryption failed: ${r.error ?? 'no result'}`))
            return
          }
          // Moved buffers come back as new objects; shared ones are the caller's own.
          const back = (mem: ArrayBuffer | undefined, own: Buffer, length: number): Buffer => (mem ? Buffer.from(mem, 0, length) : own.subarray(0, length))
          resolve(r.shards.map((s, i) => ({
            plain: back(s.buf, shards[i]!.plain, lengths[i]!),
            ciphertext: back(s.out, shards[i]!.out, lengths[i]!),
            hash: s.hash!,
            digests: s.digests!,
          })))
        },
      })
    })
  }

  /**
   * Send the job `build` makes to the next worker. `ref` names a buffer for that worker: shared
   * memory by number (with the memory itself the first time), anything else moved.
   */
  private send(build: (ref: (buf: Buffer) => BufferRef) => VerifyDecryptRequest | SealRequest, pending: Pending): void {
    const i = this.turn++ % this.slots.length
    if (this.slots[i]!.lost) this.slots[i] = this.spawn()
    const slot = this.slots[i]!
    const moved = new Set<ArrayBuffer>()
    const introduced: number[] = []
    const msg = build((buf) => {
      const memory = buf.buffer
      if (!(memory instanceof SharedArrayBuffer)) {
        moved.add(memory as ArrayBuffer)
        return { moved: memory as ArrayBuffer }
      }
      let n = sharedNumbers.get(memory)
      if (n === undefined) sharedNumbers.set(memory, n = nextShared++)
      if (!this.sent.has(memory)) {
        this.sent.add(memory)
        this.dropped.register(memory, n)
      }
      if (slot.shared.has(n) || introduced.includes(n)) return { shared: n }
      introduced.push(n)
      return { shared: n, memory }
    })
    this.pending.set(msg.id, pending)
    slot.jobs.add(msg.id)
    slot.worker.ref()
    try {
      slot.worker.postMessage(msg, [...moved])
      for (const n of introduced) slot.shared.add(n)
    } catch (err) {
      // Nothing was sent: forget the job (the caller's promise rejects with this error).
      this.pending.delete(msg.id)
      slot.jobs.delete(msg.id)
      this.unrefWhenIdle()
      throw err
    }
  }

  /** @internal How many shared buffers the workers hold (tests). */
  sharedHeld(): number {
    return this.slots.reduce((n, s) => n + s.shared.size, 0)
  }

  /** A shared buffer the main thread let go of: the workers that have it let go too. */
  private forget(n: number): void {
    for (const slot of this.slots) {
      if (!slot.shared.delete(n) || slot.lost) continue
      try {
        slot.worker.postMessage({ op: 'forget', shared: [n] } satisfies ForgetRequest)
      } catch { /* a worker on its way out keeps nothing */ }
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
