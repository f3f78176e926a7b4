/**
 * The manifest of one file version, sealed with an HMAC only the holder of the file key can make:
 *
 *   0x01 (format v1) ‖ msgpack(Manifest) ‖ HMAC-SHA256(K_mac, 0x01 ‖ msgpack)
 *   K_mac = HKDF-SHA256(file key, info 'xcloud/v1/file/manifest-mac')
 *
 * The msgpack is plain (no msgpackr records or extensions), maps in the key order below, minimal
 * map headers, IVs as bin, hashes as 64-char lowercase hex strings. The bridge and hosts only ever
 * see the sealed bytes; openManifest treats them as hostile: the MAC is checked (in constant time)
 * before any parsing, then the structure must be exactly a valid Manifest.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { Packr, Unpackr } from 'msgpackr'
import { xerr } from '../errors.js'
import { SHARD_SIZE } from '../protocol.js'
import { HKDF_INFO, hkdf32 } from './derive.js'
import { assertKey } from './encoding.js'
import { SHARD_IV_BYTES } from './content.js'

export interface ManifestShard {
  index: number
  /** Plaintext size = ciphertext size (CTR). */
  size: number
  iv: Buffer
  /** Hex SHA-256 of the shard's ciphertext. */
  hash: string
}

export interface Manifest {
  v: 1
  /** Plaintext size of the file version. */
  size: number
  shardSize: number
  shards: ManifestShard[]
}

export const MANIFEST_FORMAT = 1
const MAC_BYTES = 32
const HEX64_RE = /^[0-9a-f]{64}$/

const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

function macOf(fileKey: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', hkdf32(fileKey, HKDF_INFO.manifestMac)).update(body).digest()
}

export function sealManifest(fileKey: Buffer, m: Manifest): Buffer {
  assertKey(fileKey, 'file key')
  const problem = checkManifest(m)
  if (typeof problem === 'string') throw xerr('XC_INTERNAL', `refusing to seal an invalid manifest: ${problem}`)
  // Rebuild with a fixed key order so the bytes depend only on the values.
  const canonical = {
    v: 1,
    size: m.size,
    shardSize: m.shardSize,
    shards: m.shards.map((s) => ({ index: s.index, size: s.size, iv: Buffer.from(s.iv), hash: s.hash })),
  }
  const body = Buffer.concat([Buffer.from([MANIFEST_FORMAT]), packr.pack(canonical)])
  return Buffer.concat([body, macOf(fileKey, body)])
}

export function openManifest(fileKey: Buffer, sealed: Buffer): Manifest {
  assertKey(fileKey, 'file key')
  const invalid = (why: string) => xerr('XC_MANIFEST_INVALID', `manifest invalid: ${why}`)
  if (!Buffer.isBuffer(sealed) || sealed.length < 2 + MAC_BYTES) throw invalid('too short')
  const body = sealed.subarray(0, sealed.length - MAC_BYTES)
  const mac = sealed.subarray(sealed.length - MAC_BYTES)
  if (!timingSafeEqual(macOf(fileKey, body), mac)) throw invalid('authentication failed')
  if (body[0] !== MANIFEST_FORMAT) throw invalid(`unknown format ${body[0]}`)
  let value: unknown
  try {
    value = unpackr.unpack(body.subarray(1))
  } catch {
    throw invalid('not msgpack')
  }
  const checked = checkManifest(value)
  if (typeof checked === 'string') throw invalid(checked)
  return checked
}

// ---------------------------------------------------------------------------------------------
// Structure check (pure): a Manifest, or the reason it is not one.

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !Buffer.isBuffer(x) && !(x instanceof Uint8Array)
}

function hasExactKeys(o: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(o)
  return own.length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(o, k))
}

/** Integers may arrive as msgpack uint64 (a bigint) from another encoder; accept them if safe. */
function asInt(x: unknown): number | undefined {
  if (typeof x === 'bigint') return x >= 0n && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : undefined
  return typeof x === 'number' && Number.isSafeInteger(x) ? x : undefined
}

function checkManifest(x: unknown): Manifest | string {
  if (!isPlainObject(x) || !hasExactKeys(x, ['v', 'size', 'shardSize', 'shards'])) return 'not a manifest object'
  if (x.v !== 1) return 'version must be 1'
  const size = asInt(x.size)
  const shardSize = asInt(x.shardSize)
  if (size === undefined || size < 0) return 'size must be a non-negative integer'
  if (shardSize === undefined || shardSize < 1 || shardSize > SHARD_SIZE) return `shardSize must be 1..${SHARD_SIZE}`
  if (!Array.isArray(x.shards)) return 'shards must be an array'
  const count = Math.ceil(size / shardSize)
  if (x.shards.length !== count) return `expected ${count} shards, found ${x.shards.length}`
  const shards: ManifestShard[] = []
  for (let i = 0; i < count; i++) {
    const s: unknown = x.shards[i]
    if (!isPlainObject(s) || !hasExactKeys(s, ['index', 'size', 'iv', 'hash'])) return `shard ${i} is not a shard object`
    if (asInt(s.index) !== i) return `shard ${i} has index ${String(s.index)}`
    const want = i < count - 1 ? shardSize : size - shardSize * (count - 1)
    if (asInt(s.size) !== want) return `shard ${i} size must be ${want}`
    if (!(s.iv instanceof Uint8Array) || s.iv.length !== SHARD_IV_BYTES) return `shard ${i} iv must be 16 bytes`
    if (typeof s.hash !== 'string' || !HEX64_RE.test(s.hash)) return `shard ${i} hash must be 64 lowercase hex`
    // Copy the IV: a decoded Buffer may be a view into the sealed bytes.
    shards.push({ index: i, size: want, iv: Buffer.from(s.iv), hash: s.hash })
  }
  return { v: 1, size, shardSize, shards }
}
