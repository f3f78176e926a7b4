/**
 * Versions, shards and mirrors. A **version** is one committed content of a file: its wrapped key,
 * its manifest (opaque to the bridge) and its ordered shard list. A **shard** is known once, by its
 * hash; each **mirror** row says one host holds it (recorded only from a receipt the host signed).
 * Shards are shared between versions only if their bytes are identical.
 */
import type { ShardRef } from '../../shared/protocol.js'

export interface VersionRecord {
  id: string
  userId: string
  nodeId: string
  size: number
  wrappedKey: string
  manifest: string
  shardCount: number
  createdAt: number
}

export interface VersionShard {
  index: number
  hash: string
  size: number
}

export interface ShardSummary {
  hash: string
  size: number
  /** Host ids holding it. */
  hosts: string[]
  /** The same, with when each mirror was recorded (Unix ms). */
  mirrors: Array<{ hostId: string; storedAt: number }>
  target: number
}

export interface ShardStore {
  /** The version with its ordered shards, and the mirrors of each shard; all or nothing. */
  insertVersion(v: VersionRecord, shards: readonly ShardRef[], mirrors: ReadonlyMap<string, readonly string[]>, targetMirrors: number, regions?: readonly string[] | null): void
  getVersion(userId: string, id: string): VersionRecord | undefined
  versionShards(versionId: string, from: number, count: number): VersionShard[]
  /** Host ids holding each hash. */
  mirrorsOf(hashes: readonly string[]): Map<string, string[]>
  /** Whether one of this user's versions lists the shard. */
  userHasShard(userId: string, hash: string): boolean
  listShards(): ShardSummary[]
  /** Mirror count per host id. */
  mirrorCounts(): Map<string, number>
}
