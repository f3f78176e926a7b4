/**
 * Orders: what the bridge tells a host to do, signed with the bridge's Ed25519 key (the one the
 * host pinned at init, which also signs transfer tokens).
 *
 * - **audit**: prove you hold shard `hash` by answering SHA-256(salt ‖ shard bytes) for `salt`;
 *   also answer the same for each `topUp` salt, which become challenges for the shard's *other*
 *   mirrors (a host never gets audited with a challenge it computed itself).
 * - **replicate**: fetch shard `hash` from `source` with the get token the bridge minted for it,
 *   verify its hash, store it, sign a receipt, and answer digests for the fresh `salts`.
 * - **delete**: remove these shards unless they were stored (or stored again) after the order was
 *   issued, which protects a shard re-uploaded while its delete order was on the way.
 *
 * Wire form, as transfer tokens: `base64url(JSON claims) "." base64url(signature)`, POSTed to the
 * host's `/orders` as `{ "order": "<that>" }`. Every order names one host, carries a random nonce,
 * an issue time and a short expiry. A host refuses an order that is forged, expired, for another
 * host, issued before the host process started (its nonce memory begins then), or whose nonce it
 * has already seen: so an order runs at most once.
 */
import { createHash, type KeyObject } from 'node:crypto'
import { xerr } from './errors.js'
import type { HostContact, Receipt } from './protocol.js'
import { HASH_RE, signBytes, verifyBytes } from './tokens.js'

export const ORDER_TTL_MS = 60_000
/** Most shards one delete order names. */
export const MAX_DELETE_BATCH = 1000
/** Most salts one order asks digests for. */
export const MAX_ORDER_SALTS = 16
/** A salt is 16 to 64 random bytes, base64url. */
export const SALT_RE = /^[A-Za-z0-9_-]{22,86}$/

interface OrderBase {
  v: 1
  /** The host the order is for. */
  host: string
  /** Random nonce (base64url); an order with a nonce the host has seen is refused. */
  n: string
  /** Issued at / expires at, Unix ms (bridge clock). */
  iat: number
  exp: number
}

export interface AuditOrder extends OrderBase {
  kind: 'audit'
  hash: string
  salt: string
  topUp: string[]
}

export interface ReplicateOrder extends OrderBase {
  kind: 'replicate'
  hash: string
  size: number
  /** Where to copy from, with a get token for that host. */
  source: HostContact
  token: string
  salts: string[]
}

export interface DeleteOrder extends OrderBase {
  kind: 'delete'
  hashes: string[]
}

export type Order = AuditOrder | ReplicateOrder | DeleteOrder
export type OrderKind = Order['kind']
/** What the bridge fills in; the signer adds version, nonce and times. */
export type OrderBody = Omit<AuditOrder, keyof OrderBase> | Omit<ReplicateOrder, keyof OrderBase> | Omit<DeleteOrder, keyof OrderBase>

export interface AuditAnswer {
  /** hex SHA-256(salt ‖ shard), or null when the host does not have the shard. */
  digest: string | null
  topUp: string[]
}

export interface ReplicateAnswer {
  receipt: Receipt
  digests: string[]
}

export interface DeleteAnswer {
  /** Removed, or not here at all (the goal is reached either way). */
  deleted: string[]
  /** Stored (again) after the order was issued, so kept: a newer receipt may vouch for it. */
  kept: string[]
}

export type OrderAnswer = AuditAnswer | ReplicateAnswer | DeleteAnswer

/** The challenge digest: SHA-256(salt ‖ shard bytes), hex. */
export function challengeDigest(salt: string, shard: Buffer): string {
  return createHash('sha256').update(Buffer.from(salt, 'base64url')).update(shard).digest('hex')
}

export function signOrder(bridgeKey: KeyObject, host: string, body: OrderBody, now: number, nonce: string, ttlMs = ORDER_TTL_MS): string {
  const claims = { v: 1, host, n: nonce, iat: now, exp: now + ttlMs, ...body }
  const text = Buffer.from(JSON.stringify(claims)).toString('base64url')
  return `${text}.${signBytes(bridgeKey, text)}`
}

const MAX_ORDER_LENGTH = 64 * 1024

/**
 * Check an order's signature and shape. Throws XC_ORDER_INVALID (malformed or forged),
 * XC_ORDER_EXPIRED or XC_ORDER_SCOPE (another host). Replay is the ReplayGuard's job.
 */
export function verifyOrder(bridgeKey: KeyObject, wire: unknown, hostId: string, now: number): Order {
  if (typeof wire !== 'string' || wire.length > MAX_ORDER_LENGTH) throw xerr('XC_ORDER_INVALID')
  const dot = wire.indexOf('.')
  if (dot <= 0 || dot !== wire.lastIndexOf('.')) throw xerr('XC_ORDER_INVALID')
  const text = wire.slice(0, dot)
  if (!verifyBytes(bridgeKey, text, wire.slice(dot + 1))) throw xerr('XC_ORDER_INVALID', 'order signature does not verify against the bridge key')
  let o: Order
  try {
    o = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Order
  } catch {
    throw xerr('XC_ORDER_INVALID')
  }
  if (!wellFormed(o)) throw xerr('XC_ORDER_INVALID', 'order fields are malformed')
  if (o.host !== hostId) throw xerr('XC_ORDER_SCOPE', 'the order is for another host')
  if (o.exp < now) throw xerr('XC_ORDER_EXPIRED')
  return o
}

const isSalts = (s: unknown): s is string[] =>
  Array.isArray(s) && s.length <= MAX_ORDER_SALTS && s.every((x) => typeof x === 'string' && SALT_RE.test(x))
const isHash = (h: unknown): h is string => typeof h === 'string' && HASH_RE.test(h)
const isTime = (t: unknown): t is number => Number.isSafeInteger(t) && (t as number) > 0

function wellFormed(o: Order): boolean {
  if (typeof o !== 'object' || o === null || o.v !== 1 || !isHash(o.host) || typeof o.n !== 'string' || o.n.length < 8 || o.n.length > 64) return false
  if (!isTime(o.iat) || !isTime(o.exp) || o.exp < o.iat) return false
  switch (o.kind) {
    case 'audit':
      return isHash(o.hash) && typeof o.salt === 'string' && SALT_RE.test(o.salt) && isSalts(o.topUp)
    case 'replicate':
      return isHash(o.hash) && Number.isSafeInteger(o.size) && o.size >= 0 && typeof o.token === 'string' && isSalts(o.salts)
        && typeof o.source === 'object' && o.source !== null && isHash(o.source.id) && typeof o.source.url === 'string'
        && typeof o.source.fingerprint === 'string' && typeof o.source.cert === 'string'
    case 'delete':
      return Array.isArray(o.hashes) && o.hashes.length <= MAX_DELETE_BATCH && o.hashes.every(isHash)
    default:
      return false
  }
}

/**
 * Remembers the nonces of unexpired orders. Orders issued before `since` (the process start) are
 * refused outright: their nonces may have been seen by an earlier run that this one cannot recall.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>()

  constructor(private readonly since: number) {}

  /** Throws XC_ORDER_REPLAYED for a nonce seen before or an order older than this process. */
  admit(o: Pick<Order, 'n' | 'iat' | 'exp'>, now: number): void {
    if (o.iat < this.since) throw xerr('XC_ORDER_REPLAYED', 'the order was issued before this host started')
    if (this.seen.has(o.n)) throw xerr('XC_ORDER_REPLAYED', 'the order was already carried out')
    if (this.seen.size > 4096) for (const [n, exp] of this.seen) if (exp < now) this.seen.delete(n)
    this.seen.set(o.n, o.exp)
  }
}
