/**
 * Proof-of-availability storage: **challenges** (salt, SHA-256(salt ‖ shard)) per shard, each
 * with its **source** ('client' for the uploader, else the id of the host that computed it), and
 * the **audit** log. A challenge is spent once; a host is never audited with one it computed.
 */
export interface Challenge {
  id: number
  hash: string
  salt: string
  digest: string
  source: string
}

export type AuditResult = 'pass' | 'fail' | 'inconclusive'

export interface AuditStore {
  addChallenges(hash: string, pairs: ReadonlyArray<{ salt: string; digest: string }>, source: string, now: number): void
  /** An unspent challenge for the shard that `hostId` did not compute, oldest first. */
  pickChallenge(hash: string, hostId: string): Challenge | undefined
  challengeCount(hash: string): number
  spendChallenge(id: number): void
  /** Log an audit and move the host's pass/fail counters. */
  recordAudit(hostId: string, hash: string, result: AuditResult, reason: string | null, now: number): void
  /** Up to `limit` random shards the bridge has recorded on this host. */
  auditSample(hostId: string, limit: number): Array<{ hash: string; size: number }>
  auditCounts(since: number): { passed: number; failed: number; inconclusive: number }
}
