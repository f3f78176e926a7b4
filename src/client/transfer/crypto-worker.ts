/**
 * Worker side of the shard crypto pool. Downloads: verify a shard's SHA-256, then decrypt it
 * (with the addon's one-pass hash and decryption when it is there, else Node's crypto). Uploads:
 * encrypt a shard, hash the ciphertext and compute its proof-of-availability challenges. Buffers
 * arrive and leave as transferred ArrayBuffers (no copies). Runs off the main thread so that a
 * transfer uses the second core for hashing and AES while the main thread handles TLS and HTTP.
 */
import { parentPort } from 'node:worker_threads'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { binding } from '../fuse/native-addon.js'
import { verifyDecryptInPlace } from './native-crypto.js'
import { sealJs, verifyDecryptJs } from './shard-crypto-js.js'

/** Encryption, then the hash and challenges of each 64 KiB piece while it is in the cache. */
const sealNative = binding()?.xc_seal ?? null

export interface VerifyDecryptRequest {
  op: 'verify'
  id: number
  key: Uint8Array
  iv: Uint8Array
  hash: string
  /** The ciphertext, `length` bytes at its start; decrypted in place when it matches `hash`. */
  buf: ArrayBuffer
  length: number
}

export interface VerifyDecryptResponse {
  id: number
  ok: boolean
  buf: ArrayBuffer
  error?: string
}

export interface SealRequest {
  op: 'seal'
  id: number
  key: Uint8Array
  iv: Uint8Array
  /** The plaintext, `length` bytes at its start. */
  buf: ArrayBuffer
  /** Where the ciphertext goes, at least `length` bytes. */
  out: ArrayBuffer
  length: number
  /** One challenge per salt: SHA-256(salt ‖ ciphertext). */
  salts: Uint8Array[]
}

export interface SealResponse {
  id: number
  buf: ArrayBuffer
  out: ArrayBuffer
  /** Hex SHA-256 of the ciphertext, and of each salt ‖ ciphertext. */
  hash?: string
  digests?: string[]
  error?: string
}

// Every decryption allocates its output (Node's cipher API has no output buffer), and V8 collects
// those only when its external-memory heuristic fires, which lets tens of MB of dead plaintext
// pile up. The pieces die young, so a young-generation collection every few shards frees them:
// about a millisecond, where a full collection took 4-12 ms and kept V8's marking threads busy
// (half a CPU-second per GiB read).
setFlagsFromString('--expose-gc')
const collect = runInNewContext('gc') as (options: { type: 'minor' | 'major' }) => void
const COLLECT_EVERY = 16 * 1024 * 1024
let sinceCollect = 0

parentPort?.on('message', (m: VerifyDecryptRequest | SealRequest) => {
  if (m.op === 'seal') seal(m)
  else verifyDecrypt(m)
})

/** Sent once, when this thread can take jobs (see CryptoPool.ready). */
export interface WorkerReady {
  ready: true
}
parentPort?.postMessage({ ready: true } satisfies WorkerReady)

function seal(m: SealRequest): void {
  const reply = (r: { hash: string; digests: string[] } | { error: string }): void => {
    parentPort!.postMessage({ id: m.id, buf: m.buf, out: m.out, ...r } satisfies SealResponse, [m.buf, m.out])
  }
  try {
    const plain = Buffer.from(m.buf, 0, m.length)
    const ciphertext = Buffer.from(m.out, 0, m.length)
    if (sealNative) {
      const digests = Buffer.alloc(32 * (m.salts.length + 1))
      sealNative(m.key, m.iv, plain, ciphertext, Buffer.concat(m.salts), digests)
      const hex = (i: number): string => digests.toString('hex', 32 * i, 32 * (i + 1))
      reply({ hash: hex(0), digests: m.salts.map((_, i) => hex(i + 1)) })
      return
    }
    reply(sealJs(m.key, m.iv, plain, ciphertext, m.salts))
    noteGarbage(m.length)
  } catch (err) {
    reply({ error: (err as Error).message })
  }
}

function noteGarbage(bytes: number): void {
  sinceCollect += bytes
  if (sinceCollect >= COLLECT_EVERY) {
    sinceCollect = 0
    collect({ type: 'minor' })
  }
}

function verifyDecrypt(m: VerifyDecryptRequest): void {
  const data = Buffer.from(m.buf, 0, m.length)
  const reply = (ok: boolean, error?: string): void => {
    parentPort!.postMessage({ id: m.id, ok, buf: m.buf, ...(error === undefined ? {} : { error }) } satisfies VerifyDecryptResponse, [m.buf])
  }
  try {
    // Each piece is hashed, then decrypted in place: on a mismatch the caller throws the buffer's
    // contents away, so nothing unverified is ever used.
    const native = verifyDecryptInPlace(m.key, m.iv, data, m.hash)
    if (native !== null) {
      reply(native)
      return
    }
    const ok = verifyDecryptJs(m.key, m.iv, data, m.hash)
    reply(ok)
    if (ok) noteGarbage(m.length)
  } catch (err) {
    reply(false, (err as Error).message)
  }
}
