/**
 * A small pool of worker threads that verify and decrypt downloaded shards (crypto-worker.ts).
 * Verification stays exactly as strict as inline: SHA-256 of the ciphertext against the
 * authenticated manifest first, decryption only when it matches. Workers are unref'd, so an
 * idle pool never keeps a command alive.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { XError } from '../../shared/errors.js'
import type { VerifyDecryptRequest, VerifyDecryptResponse } from './crypto-worker.js'

interface Pending {
  resolve(r: { ok: boolean; ciphertext: Buffer; plain: Buffer }): void
  reject(err: unknown): void
  length: number
}

class CryptoPool {
  private readonly workers: Worker[] = []
  private readonly pending = new Map<number, Pending>()
  private nextId = 0
  private turn = 0

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./crypto-worker.js', import.meta.url))
      w.on('message', (m: VerifyDecryptResponse) => this.settle(m))
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
    const id = this.nextId++
    const buf = ciphertext.buffer as ArrayBuffer
    const msg: VerifyDecryptRequest = { id, key, iv, hash, buf, out: out.buffer as ArrayBuffer, length: ciphertext.length }
    const w = this.workers[this.turn++ % this.workers.length]!
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, length: ciphertext.length })
      w.ref()
      w.postMessage(msg, [buf, msg.out])
    })
  }

  private settle(m: VerifyDecryptResponse): void {
    const p = this.pending.get(m.id)
    if (!p) return
    this.pending.delete(m.id)
    if (this.pending.size === 0) for (const w of this.workers) w.unref()
    const ciphertext = Buffer.from(m.buf, 0, p.length)
    if (m.error) p.reject(new XError('XC_DECRYPT', m.error))
    else p.resolve({ ok: m.ok, ciphertext, plain: Buffer.from(m.out, 0, p.length) })
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
