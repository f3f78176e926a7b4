/**
 * What `admin stats` asks of storage: plain counts, and shards grouped by health. The store only
 * counts; which hosts count or can serve is decided by the caller (hosts/health.ts) and passed in,
 * so the store never re-implements host judgement and never returns one row per shard.
 */

/** Counts that need no judgement of hosts. */
export interface StatsCounts {
  users: number
  /** File nodes, the plaintext bytes of their current versions, and committed versions (current or not). */
  files: number
  fileBytes: number
  versions: number
  /** Audit results summed over every host's lifetime counters. */
  auditsPassed: number
  auditsFailed: number
  /** Latest audit and latest repair attempt logged, Unix ms; null when there was none. */
  lastAuditAt: number | null
  lastRepairAt: number | null
}

/** One group of shards with the same target, the same number of counted mirrors and the same source availability. */
export interface ShardHealthRow {
  target: number
  /** Mirrors on hosts in the `counted` list. */
  counted: number
  /** At least one mirror is on a host in the `sources` list. */
  hasSource: boolean
  shards: number
  /** Bytes of these shards, each counted once. */
  bytes: number
  /** Bytes of every mirror of these shards. */
  storedBytes: number
}

export interface StatsStore {
  statsCounts(): StatsCounts
  /** Every shard the bridge knows, grouped (a handful of rows whatever the number of shards). */
  shardHealth(counted: readonly string[], sources: readonly string[]): ShardHealthRow[]
}
