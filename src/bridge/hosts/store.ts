import type { AnnounceRequest, HeartbeatRequest, ReportReason } from '../../shared/protocol.js'

/** What the host announced, plus what the bridge knows of it. */
export interface HostRecord extends AnnounceRequest {
  id: string
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
  /** Appends to host_events and counts a failure. */
  recordFailure(e: HostEvent): void
  addSuccesses(hostId: string, n: number): void
}
