/**
 * Signed capabilities of the network, all Ed25519 (node:crypto):
 *
 * - **Transfer token**: the bridge lets a client put or get ONE shard on ONE host until `exp`.
 *   It names no user. Wire form: `base64url(JSON claims) "." base64url(signature)`, sent to hosts
 *   as `Authorization: XC-Token <token>`.
 * - **Receipt**: a host states it durably holds a shard (hash, size); the client hands receipts to
 *   the bridge at commit, so the bridge records only placements a host vouched for.
 * - **Host request signature**: a host authenticates its calls to the bridge (announce, heartbeat)
 *   by signing method, path, timestamp and the body's SHA-256.
 *
 * Keys travel as base64url of the raw 32-byte Ed25519 public key; a host's id is the hex SHA-256
 * of that raw key, so an id cannot be claimed without the private key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { xerr } from './errors.js'

export type TokenOp = 'put' | 'get'

export interface TransferClaims {
  /** Format version. */
  v: 1
  op: TokenOp
  /** Shard hash (64 hex). */
  h: string
  /** Host id (64 hex) the token is valid at. */
  host: string
  /** Expiry, Unix milliseconds. */
  exp: number
  /** For `put`: the exact shard size in bytes. */
  size?: number
  /** Random nonce, so two tokens never collide. */
  n: string
}

export interface Receipt {
  v: 1
  host: string
  h: string
  size: number
  /** Unix milliseconds when the host finished storing. */
  at: number
  sig: string
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

export const HASH_RE = /^[0-9a-f]{64}$/

export interface SigningKeys {
  publicKey: string // base64url raw 32 bytes
  privateKey: string // base64url raw 32-byte seed
}

export function generateSigningKeys(): SigningKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI_PREFIX.length)
  const priv = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(ED25519_PKCS8_PREFIX.length)
  return { publicKey: pub.toString('base64url'), privateKey: priv.toString('base64url') }
}

const pubCache = new Map<string, KeyObject>()

export function publicKeyObject(pub: string): KeyObject {
  let k = pubCache.get(pub)
  if (k) return k
  const raw = Buffer.from(pub, 'base64url')
  if (raw.length !== 32) throw xerr('XC_BAD_REQUEST', 'an Ed25519 public key is 32 bytes')
  k = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
  if (pubCache.size > 10_000) pubCache.clear()
  pubCache.set(pub, k)
  return k
}

export function privateKeyObject(priv: string): KeyObject {
  const raw = Buffer.from(priv, 'base64url')
  if (raw.length !== 32) throw xerr('XC_CONFIG', 'an Ed25519 private key is 32 bytes')
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' })
}

/** Host id: hex SHA-256 of the raw public key. */
export function hostIdOf(pub: string): string {
  return createHash('sha256').update(Buffer.from(pub, 'base64url')).digest('hex')
}

export function signBytes(priv: KeyObject, data: Buffer | string): string {
  return sign(null, Buffer.from(data), priv).toString('base64url')
}

export function verifyBytes(pub: KeyObject, data: Buffer | string, sig: string): boolean {
  const s = Buffer.from(sig, 'base64url')
  if (s.length !== 64) return false
  try {
    return verify(null, Buffer.from(data), pub, s)
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// Transfer tokens

export function signTransferToken(priv: KeyObject, claims: TransferClaims): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url')
  return `${body}.${signBytes(priv, body)}`
}

export interface TokenExpectation {
  op: TokenOp
  hash: string
  host: string
  now?: number
}

/**
 * Verify a transfer token against what the request is for. Throws XC_TOKEN_MISSING,
 * XC_TOKEN_INVALID (malformed or bad signature), XC_TOKEN_EXPIRED or XC_TOKEN_SCOPE.
 */
export function verifyTransferToken(bridgePub: KeyObject, token: string | undefined, want: TokenExpectation): TransferClaims {
  if (!token) throw xerr('XC_TOKEN_MISSING')
  if (token.length > 2048) throw xerr('XC_TOKEN_INVALID')
  const dot = token.indexOf('.')
  if (dot <= 0 || dot !== token.lastIndexOf('.')) throw xerr('XC_TOKEN_INVALID')
  const body = token.slice(0, dot)
  const sig = token.slice(dot + 1)
  if (!verifyBytes(bridgePub, body, sig)) throw xerr('XC_TOKEN_INVALID')
  let claims: TransferClaims
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TransferClaims
  } catch {
    throw xerr('XC_TOKEN_INVALID')
  }
  if (claims?.v !== 1 || typeof claims.exp !== 'number') throw xerr('XC_TOKEN_INVALID')
  if (claims.exp < (want.now ?? Date.now())) throw xerr('XC_TOKEN_EXPIRED')
  if (claims.op !== want.op || claims.h !== want.hash || claims.host !== want.host) throw xerr('XC_TOKEN_SCOPE')
  if (claims.op === 'put' && !(Number.isSafeInteger(claims.size) && claims.size! >= 0)) throw xerr('XC_TOKEN_INVALID')
  return claims
}

/** Read the `Authorization: XC-Token …` header. */
export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined
  const m = /^XC-Token\s+(\S+)$/.exec(header)
  return m ? m[1] : undefined
}

// ---------------------------------------------------------------------------------------------
// Receipts

function receiptBytes(r: Omit<Receipt, 'sig'>): string {
  return `xc-receipt-v1\n${r.host}\n${r.h}\n${r.size}\n${r.at}`
}

export function signReceipt(priv: KeyObject, r: Omit<Receipt, 'sig' | 'v'>): Receipt {
  const base = { v: 1 as const, host: r.host, h: r.h, size: r.size, at: r.at }
  return { ...base, sig: signBytes(priv, receiptBytes(base)) }
}

export function verifyReceipt(hostPub: KeyObject, r: Receipt): boolean {
  return r?.v === 1 && typeof r.sig === 'string' && verifyBytes(hostPub, receiptBytes(r), r.sig)
}

// ---------------------------------------------------------------------------------------------
// Host request signatures (host → bridge)

export const HOST_SIG_HEADERS = { id: 'x-xc-host', ts: 'x-xc-ts', sig: 'x-xc-sig' } as const
/** How far a signed host request's timestamp may be from the bridge's clock. */
export const HOST_SIG_SKEW_MS = 5 * 60_000

export function hostRequestBytes(method: string, path: string, ts: number, body: Buffer | string): string {
  const digest = createHash('sha256').update(body).digest('hex')
  return `xc-host-req-v1\n${method.toUpperCase()}\n${path}\n${ts}\n${digest}`
}
