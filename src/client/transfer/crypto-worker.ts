/**
 * Worker side of the shard crypto pool: verify a shard's SHA-256, then decrypt it. Buffers arrive
 * and leave as transferred ArrayBuffers (no copies). Runs off the main thread so that a download
 * uses the second core for hashing and AES while the main thread handles TLS and HTTP.
 */
import { parentPort } from 'node:worker_threads'
import { createDecipheriv, createHash } from 'node:crypto'

export interface VerifyDecryptRequest {
  id: number
  key: Uint8Array
  iv: Uint8Array
  hash: string
  buf: ArrayBuffer
  length: number
}

export interface VerifyDecryptResponse {
  id: number
  ok: boolean
  buf: ArrayBuffer
  plain?: ArrayBuffer
  error?: string
}

parentPort?.on('message', (m: VerifyDecryptRequest) => {
  const data = Buffer.from(m.buf, 0, m.length)
  try {
    if (createHash('sha256').update(data).digest('hex') !== m.hash) {
      parentPort!.postMessage({ id: m.id, ok: false, buf: m.buf } satisfies VerifyDecryptResponse, [m.buf])
      return
    }
    const d = createDecipheriv('aes-256-ctr', m.key, m.iv)
    let plain = Buffer.concat([d.update(data), d.final()])
    // Transfer only an ArrayBuffer the result owns whole (small Buffers may share a pool).
    if (plain.byteOffset !== 0 || plain.buffer.byteLength !== plain.length) plain = Buffer.from(plain)
    const out = plain.buffer as ArrayBuffer
    parentPort!.postMessage({ id: m.id, ok: true, buf: m.buf, plain: out } satisfies VerifyDecryptResponse, [m.buf, out])
  } catch (err) {
    parentPort!.postMessage({ id: m.id, ok: false, buf: m.buf, error: (err as Error).message } satisfies VerifyDecryptResponse, [m.buf])
  }
})
