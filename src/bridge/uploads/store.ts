/**
 * An **upload** is a short-lived session in which a client places shards, hands in the receipts
 * hosts signed, and commits versions. Targets are the hosts the bridge chose for each shard;
 * receipts are kept only for targets, so a commit proves every shard reached `mirrors` hosts the
 * bridge picked.
 */
import type { Receipt } from '../../shared/tokens.js'

export interface UploadRecord {
  id: string
  userId: string
  mirrors: number
  createdAt: number
  expiresAt: number
  /** The uploader's region limit when the upload opened (null = anywhere). */
  regions: string[] | null
}

export interface UploadTarget {
  hash: string
  hostId: string
  size: number
}

export interface UploadStore {
  insertUpload(u: UploadRecord): void
  getUpload(userId: string, id: string): UploadRecord | undefined
  insertTargets(uploadId: string, targets: readonly UploadTarget[], now: number): void
  /** Targets of these hashes in this upload. */
  targetsOf(uploadId: string, hashes: readonly string[]): UploadTarget[]
  /** Records receipts (idempotent per upload, hash and host); returns those not recorded before. */
  insertReceipts(uploadId: string, receipts: readonly Receipt[]): Receipt[]
  /** Hosts with a receipt, per hash. */
  receiptHosts(uploadId: string, hashes: readonly string[]): Map<string, string[]>
  /**
   * Bytes placed per host after `since` and after the host's last heartbeat: what the host's own
   * `used` figure cannot include yet.
   */
  pendingBytes(since: number): Map<string, number>
}
