import type { AnnounceRequest, HeartbeatRequest, ReportReason } from '../../shared/protocol.js'

/** What the host announced, plus what the bridge knows of it. */
export interface HostRecord extends AnnounceRequest {
  id: string
  schedule: string | null
  /** Figures from the last heartbeat. */
  reportedShards: number
  bytesIn: number
  bytesOut: number
  uptimeMs: number
  /** Last announce or heartbeat, Unix ms. */
  lastSeen: number
  /** Receipts the host signed that the bridge accepted. */
  successes: number
  /** Failures clients reported. */
  failures: number
  auditsPassed: number
  auditsFailed: number
  approved: boolean
  banned: boolean
  exitStartedAt: number | null
  exitedAt: number | null
  /** Storage earnings are accrued up to this time. */
  accruedUntil: number | null
  /** The host's cumulative bytesOut at the last heartbeat (egress is accrued from its growth). */
  egressSeen: number
  /** Bytes of get tokens minted for this host and not yet paid: paid egress never exceeds them. */
  egressCredit: number
  createdAt: number
}

export interface HostEvent {
  hostId: string
  at: number
  reason: ReportReason
  hash: string
  reporterId: string
}

export interface HostStore {
  upsertHost(id: string, a: AnnounceRequest, now: number): void
  heartbeat(id: string, hb: HeartbeatRequest, now: number): void
  getHost(id: string): HostRecord | undefined
  hostsByIds(ids: readonly string[]): HostRecord[]
  /** Hosts whose last announce or heartbeat is at or after `since`. */
  hostsSeenSince(since: number): HostRecord[]
  allHosts(): HostRecord[]
  /**
   * Appends to host_events and counts a failure; false (nothing recorded) when the same reporter
   * already reported this host and shard within `windowMs`.
   */
  recordFailure(e: HostEvent, windowMs: number): boolean
  addSuccesses(hostId: string, n: number): void
  setApproval(hostId: string, fields: { approved?: boolean; banned?: boolean }): boolean
  startExit(hostId: string, now: number): void
  markExited(hostId: string, now: number): void
  /** Adds to the host's egress credit (bytes it may be paid for serving). */
  addEgressCredit(credits: ReadonlyMap<string, number>): void
}
