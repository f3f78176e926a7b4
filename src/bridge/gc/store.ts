/**
 * Garbage collection storage. A version retires when its node points elsewhere or is deleted (a
 * trigger stamps retired_at); a shard no version lists is an orphan; a (hash, host) pair in
 * **deletions** is a delete order still to deliver.
 */
export interface GcStore {
  /** Drop versions retired before `before`, with their shard lists; returns how many. */
  dropRetiredVersions(before: number): number
  /** Shards no version lists, created before `before`. */
  orphanShards(before: number, limit: number): Array<{ hash: string; size: number; hosts: string[] }>
  /** Forget a shard (its row and challenges); its mirrors must be gone already. */
  forgetShard(hash: string): void
  /** Uploads that expired before `before`. */
  expiredUploads(before: number, limit: number): string[]
  /** Targets of this upload that did not become mirrors: bytes a host may hold for nothing. */
  uploadLeftovers(uploadId: string): Array<{ hash: string; hostId: string }>
  dropUpload(uploadId: string): void
  queueDeletion(hash: string, hostId: string, now: number): void
  /** Queued deletions per host, at most `perHost` each. */
  pendingDeletions(perHost: number): Map<string, string[]>
  clearDeletions(hostId: string, hashes: readonly string[]): void
  /** A mirror again (the same bytes stored anew): its queued deletion is void. */
  /** A mirror again, or placed there again by an open upload since it was queued: not to be deleted. */
  isWanted(hash: string, hostId: string, now: number): boolean
  deletionsQueued(): number
}
