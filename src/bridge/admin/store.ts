export interface NetworkStats {
  users: number
  hosts: number
  hostsOnline: number
  /** Distinct shards the bridge knows. */
  shards: number
  /** Shards with fewer mirrors on online hosts than their target. */
  shardsUnderTarget: number
  /** Bytes held on hosts, every mirror counted. */
  bytesStored: number
  /** File nodes, and committed versions (every version, not only current ones). */
  files: number
  versions: number
}

export interface StatsStore {
  stats(onlineSince: number): NetworkStats
}
