import type { Prices } from './earnings/prices.js'
import type { TokenMinter } from './keys.js'

/** What every handler may know about the running bridge besides storage. */
export interface BridgeContext {
  now(): number
  /** Default mirrors per shard. */
  mirrors: number
  /** A host is offline once its last heartbeat is older than this. */
  offlineAfterMs: number
  /** Bridge public key, base64url raw Ed25519. */
  publicKey: string
  /** Keys decoy KDF salts. */
  secret: Buffer
  tokens: TokenMinter
  /** Only hosts an admin approved get data. */
  requireApproval: boolean
  /** What hosts earn (earnings/prices.ts). */
  prices: Prices
}
