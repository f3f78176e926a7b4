/**
 * Worker side of the shard crypto pool. Downloads: verify a shard's SHA-256, then decrypt it
 * (with the addon's one-pass hash and decryption when it is there, else Node's crypto). Uploads:
 * encrypt a shard, hash the ciphertext and compute its proof-of-availability challenges. No byte
 * is copied between the threads: the client's pooled shard buffers are shared memory, sent to
 * this thread once and named by number afterwards; any other buffer is transferred there and
 * back (BufferRef). Several shards sealed in one job hash
 * side by side, which on a CPU with AVX-512 takes about half the time of one after another. Runs
 * off the main thread so that a transfer uses the second core for hashing and AES while the main
 * thread handles TLS and HTTP.
 */
import { parentPort } from 'node:worker_threads'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { binding } from '../fuse/native-addon.js'
import { verifyDecryptInPlace } from './native-crypto.js'
import { sealJs, verifyDecryptJs } from './shard-crypto-js.js'

/**
 * Encryption, then the hash and challenges of each 64 KiB piece while it is in the cache; several
 * shards' hashes and challenges side by side (sixteen-lane SHA-256), else one shard at a time.
 */
const sealNative = binding()?.xc_seal_many ?? null

/**
 * A buffer a job works on: memory moved here (transferred, and moved back with the answer), or
 * shared memory that both threads keep, by its number. A new SharedArrayBuffer object for every
 * job would make V8 count its size as new external memory each time, as a transfer does (see
 * CryptoPool), so the memory comes along once, with the first job that names it, and stays here
 * until a `forget` message.
 */
export type BufferRef = { moved: ArrayBuffer } | { shared: number; memory?: SharedArrayBuffer }

export interface VerifyDecryptRequest {
  op: 'verify'
  id: number
  key: Uint8Array
  iv: Uint8Array
  hash: string
  /** The ciphertext, `length` bytes at its start; decrypted in place when it matches `hash`. */
  buf: BufferRef
  length: number
}

export interface VerifyDecryptResponse {
  id: number
  ok: boolean
  /** The buffer, when it was moved here. */
  buf?: ArrayBuffer
  error?: string
}

/** Shared buffers the main thread no longer has: let them go here too. */
export interface ForgetRequest {
  op: 'forget'
  shared: number[]
}

/** One shard to seal. */
export interface ShardToSeal {
  key: Uint8Array
  iv: Uint8Array
  /** The plaintext, `length` bytes at its start. */
  buf: BufferRef
  /** Where the ciphertext goes, at least `length` bytes; may be `buf` (encrypted in place). */
  out: BufferRef
  length: number
  /** One challenge per salt: SHA-256(salt ‖ ciphertext). */
  salts: Uint8Array[]
}

/** Shards sealed in one job, so that their hashes can run side by side. */
export interface SealRequest {
  op: 'seal'
  id: number
  shards: ShardToSeal[]
}

export interface SealedShard {
  /** The buffers, when they were moved here. */
  buf?: ArrayBuffer
  out?: ArrayBuffer
  /** Hex SHA-256 of the ciphertext, and of each salt ‖ ciphertext. */
  hash?: string
  digests?: string[]
}

export interface SealResponse {
  id: number
  /** The shards' buffers, in order, and (unless `error`) their results. */
  shards: SealedShard[]
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

/** Shared buffers by number (BufferRef). */
const sharedMemory = new Map<number, SharedArrayBuffer>()

/** The memory `ref` names. */
function memoryOf(ref: BufferRef): ArrayBufferLike {
  if ('moved' in ref) return ref.moved
  const memory = sharedMemory.get(ref.shared)
  if (!memory) throw new Error(`no shared buffer ${ref.shared}`)
  return memory
}

/** Shared memory a job brings along is kept before anything else runs (the main thread counts it sent). */
function keepShared(refs: BufferRef[]): void {
  for (const ref of refs) if ('shared' in ref && ref.memory) sharedMemory.set(ref.shared, ref.memory)
}

let collectSoon = false

parentPort?.on('message', (m: VerifyDecryptRequest | SealRequest | ForgetRequest) => {
  if (m.op === 'seal') {
    keepShared(m.shards.flatMap((s) => [s.buf, s.out]))
    seal(m)
  } else if (m.op === 'verify') {
    keepShared([m.buf])
    verifyDecrypt(m)
  } else {
    for (const n of m.shared) sharedMemory.delete(n)
    // The memory goes only when this thread collects its last object for it, and the native
    // paths allocate too little here for a collection to come soon on its own.
    if (!collectSoon) {
      collectSoon = true
      setImmediate(() => { collectSoon = false; collect({ type: 'major' }) })
    }
  }
})

/** Sent once, when this thread can take jobs (see CryptoPool.ready). */
export interface WorkerReady {
  ready: true
}
parentPort?.postMessage({ ready: true } satisfies WorkerReady)

function seal(m: SealRequest): void {
  const back = m.shards.map((s) => ({
    ...('moved' in s.buf ? { buf: s.buf.moved } : {}),
    ...('moved' in s.out ? { out: s.out.moved } : {}),
  }))
  // Every moved buffer goes back with the answer, also after a failure; a shard encrypted in place
  // names one buffer as both `buf` and `out`, and it goes back once.
  const moveBack = [...new Set(back.flatMap((b) => [b.buf, b.out]).filter((b): b is ArrayBuffer => b !== undefined))]
  try {
    const plains = m.shards.map((s) => Buffer.from(memoryOf(s.buf), 0, s.length))
    const outs = m.shards.map((s) => Buffer.from(memoryOf(s.out), 0, s.length))
    const per = m.shards[0]?.salts.length ?? 0
    let results: { hash: string; digests: string[] }[]
    if (sealNative && m.shards.length > 0 && m.shards.every((s) => s.salts.length === per)) {
      const n = m.shards.length
      const digests = Buffer.alloc(32 * (per + 1) * n)
      sealNative(
        Buffer.concat(m.shards.map((s) => s.key)),
        Buffer.concat(m.shards.map((s) => s.iv)),
        plains, outs,
        Buffer.concat(m.shards.flatMap((s) => s.salts)),
        per, digests,
      )
      const hex = (i: number): string => digests.toString('hex', 32 * i, 32 * (i + 1))
      results = m.shards.map((_, s) => ({ hash: hex((per + 1) * s), digests: Array.from({ length: per }, (_, i) => hex((per + 1) * s + i + 1)) }))
    } else {
      results = m.shards.map((s, i) => sealJs(s.key, s.iv, plains[i]!, outs[i]!, s.salts))
      noteGarbage(m.shards.reduce((a, s) => a + s.length, 0))
    }
    parentPort!.postMessage({ id: m.id, shards: back.map((b, i) => ({ ...b, ...results[i]! })) } satisfies SealResponse, moveBack)
  } catch (err) {
    parentPort!.postMessage({ id: m.id, shards: back, error: (err as Error).message } satisfies SealResponse, moveBack)
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
  const moved = 'moved' in m.buf ? m.buf.moved : undefined
  const reply = (ok: boolean, error?: string): void => {
    const answer: VerifyDecryptResponse = { id: m.id, ok, ...(moved ? { buf: moved } : {}), ...(error === undefined ? {} : { error }) }
    parentPort!.postMessage(answer, moved ? [moved] : [])
  }
  try {
    const data = Buffer.from(memoryOf(m.buf), 0, m.length)
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
