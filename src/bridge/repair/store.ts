/** What the checker reads and the repairer writes: shards with their mirrors, and the repair log. */
export interface ShardMirrorsRow {
  hash: string
  size: number
  target: number
  /** Regions the shard must stay in (its owner's), or null for anywhere. */
  regions: string[] | null
  hosts: string[]
}

export interface RepairStore {
  shardsWithMirrors(): ShardMirrorsRow[]
  /** Records a mirror; false when it was already there or the shard is no longer known. */
  addMirror(hash: string, hostId: string, now: number): boolean
  shardExists(hash: string): boolean
  /** Removes a mirror; returns what it was, for the earnings accrual of its last stretch. */
  removeMirror(hash: string, hostId: string): { size: number; storedAt: number } | undefined
  recordRepair(r: { hash: string; sourceId: string; targetId: string; size: number; at: number; ok: boolean; error: string | null }): void
  mirrorCountOn(hostId: string): number
  /** Hosts that failed an audit of this shard at or after `since`. */
  failedAuditHosts(hash: string, since: number): string[]
  repairsSince(since: number): { ok: number; failed: number; bytes: number }
}
