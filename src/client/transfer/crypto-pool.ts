/**
 * A small pool of worker threads that verify and decrypt downloaded shards, and encrypt and hash
 * shards to upload (crypto-worker.ts). Verification stays exactly as strict as inline: SHA-256 of
 * the ciphertext against the authenticated manifest first, decryption only when it matches.
 * Workers are unref'd, so an idle pool never keeps a command alive.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { XError } from '../../shared/errors.js'
import type { SealRequest, SealResponse, VerifyDecryptRequest, VerifyDecryptResponse } from './crypto-worker.js'

interface Pending {
  settle(m: VerifyDecryptResponse | SealResponse): void
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

/** Buffers the pool can move to a worker and back: each starts its own ArrayBuffer. */
export function transferable(buf: Buffer): boolean {
  return buf.byteOffset === 0
}

class CryptoPool {
  private readonly workers: Worker[] = []
  private readonly pending = new Map<number, Pending>()
  private nextId = 0
  private turn = 0

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./crypto-worker.js', import.meta.url))
      w.on('message', (m: VerifyDecryptResponse | SealResponse) => this.settle(m))
      w.on('error', (err) => this.failAll(err))
      // After the listeners: adding a 'message' listener refs the worker's port again, and a pool
      // made but never used would then keep the process alive.
      w.unref()
      this.workers.push(w)
    }
  }

  /**
   * Verify `ciphertext` against `hash` and decrypt it into `out`. Both buffers must start their
   * own ArrayBuffer (pooled shard buffers do): they are transferred to the worker and back, and
   * come back in the result. Resolves { ok: false } on a mismatch (then `plain` is garbage).
   */
  verifyDecrypt(key: Buffer, iv: Buffer, hash: string, ciphertext: Buffer, out: Buffer): Promise<{ ok: boolean; ciphertext: Buffer; plain: Buffer }> {
    if (ciphertext.byteOffset !== 0 || out.byteOffset !== 0 || out.buffer.byteLength < ciphertext.length) {
      throw new XError('XC_INTERNAL', 'crypto pool takes buffers that start their own ArrayBuffer')
    }
    const length = ciphertext.length
    const msg: VerifyDecryptRequest = { op: 'verify', id: this.nextId++, key, iv, hash, buf: ciphertext.buffer as ArrayBuffer, out: out.buffer as ArrayBuffer, length }
    return new Promise((resolve, reject) => {
      this.send(msg, {
        reject,
        settle: (m) => {
          if (m.error) reject(new XError('XC_DECRYPT', m.error))
          else resolve({ ok: (m as VerifyDecryptResponse).ok, ciphertext: Buffer.from(m.buf, 0, length), plain: Buffer.from(m.out, 0, length) })
        },
      })
    })
  }

  /**
   * Encrypt `plain` into `out` (AES-256-CTR), hash the ciphertext, and compute one challenge per
   * salt. Both buffers must be transferable(); they come back in the result.
   */
  seal(key: Buffer, iv: Buffer, plain: Buffer, out: Buffer, salts: Buffer[]): Promise<Sealed> {
    if (!transferable(plain) || !transferable(out) || out.buffer.byteLength < plain.length) {
      throw new XError('XC_INTERNAL', 'crypto pool takes buffers that start their own ArrayBuffer')
    }
    const length = plain.length
    const msg: SealRequest = { op: 'seal', id: this.nextId++, key, iv, buf: plain.buffer as ArrayBuffer, out: out.buffer as ArrayBuffer, length, salts }
    return new Promise((resolve, reject) => {
      this.send(msg, {
        reject,
        settle: (m) => {
          const r = m as SealResponse
          if (r.error || r.hash === undefined || r.digests === undefined) reject(new XError('XC_INTERNAL', `shard encryption failed: ${r.error ?? 'no result'}`))
          else resolve({ plain: Buffer.from(r.buf, 0, length), ciphertext: Buffer.from(r.out, 0, length), hash: r.hash, digests: r.digests })
        },
      })
    })
  }

  private send(msg: VerifyDecryptRequest | SealRequest, pending: Pending): void {
    const w = this.workers[this.turn++ % this.workers.length]!
    this.pending.set(msg.id, pending)
    w.ref()
    try {
      w.postMessage(msg, [msg.buf, msg.out])
    } catch (err) {
      // Nothing was sent: forget the job (the caller's promise rejects with this error).
      this.pending.delete(msg.id)
      if (this.pending.size === 0) for (const x of this.workers) x.unref()
      throw err
    }
  }

  private settle(m: VerifyDecryptResponse | SealResponse): void {
    const p = this.pending.get(m.id)
    if (!p) return
    this.pending.delete(m.id)
    if (this.pending.size === 0) for (const w of this.workers) w.unref()
    p.settle(m)
  }

  private failAll(err: unknown): void {
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }
}

let pool: CryptoPool | undefined

/** The process-wide pool: one worker per core beyond the main thread's, 1 to 4. */
export function cryptoPool(): CryptoPool {
  pool ??= new CryptoPool(Math.max(1, Math.min(4, availableParallelism() - 1)))
  return pool
}
