/**
 * How the bridge judges a host: its state, from heartbeats, schedule, audits and the operator; and
 * its reputation, from what it did.
 *
 *   reputation = (S + 1) / (S + F + 10·A + 1)
 *
 * S = successes: receipts the bridge accepted plus audits passed; F = failures clients reported
 * (mismatch, timeout, error, refused); A = audits failed. A new host starts at 1. A failed audit
 * weighs ten client reports: it is the bridge's own evidence that data is gone, while a report may
 * be a client's bad network. The +1 keeps one early failure from sinking a host with no history.
 *
 * States (see HostState): exited > suspended (banned, or reputation under SUSPEND_BELOW after at
 * least one failed audit) > exiting > offline (no heartbeat within offlineAfterMs, or outside its
 * online hours) > online. A suspended host gets no data and its mirrors stop counting, so repair
 * moves its shards elsewhere.
 *
 * Two questions the rest of the bridge asks:
 * - **counted**: do this host's mirrors count toward a shard's target? Heartbeating and trusted
 *   (online, or only outside its online hours: it is expected back).
 * - **available**: can it take or serve bytes now? Heartbeating and within its online hours (an
 *   exiting or suspended host is still available as a repair source).
 */
import type { HostContact, HostState } from '../../shared/protocol.js'
import { withinSchedule } from '../../shared/schedule.js'
import type { HostRecord } from './store.js'

export const SUSPEND_BELOW = 0.5
export const AUDIT_FAILURE_WEIGHT = 10

export function reputationOf(h: Pick<HostRecord, 'successes' | 'failures' | 'auditsPassed' | 'auditsFailed'>): number {
  const s = h.successes + h.auditsPassed
  return (s + 1) / (s + h.failures + AUDIT_FAILURE_WEIGHT * h.auditsFailed + 1)
}

export function isOnline(h: Pick<HostRecord, 'lastSeen'>, now: number, offlineAfterMs: number): boolean {
  return h.lastSeen >= now - offlineAfterMs
}

type StateInput = Pick<HostRecord, 'lastSeen' | 'schedule' | 'banned' | 'exitStartedAt' | 'exitedAt' | 'successes' | 'failures' | 'auditsPassed' | 'auditsFailed'>

export function isSuspended(h: StateInput): boolean {
  return h.banned || (h.auditsFailed > 0 && reputationOf(h) < SUSPEND_BELOW)
}

export function hostState(h: StateInput, now: number, offlineAfterMs: number): HostState {
  if (h.exitedAt !== null) return 'exited'
  if (isSuspended(h)) return 'suspended'
  if (h.exitStartedAt !== null) return 'exiting'
  if (!isOnline(h, now, offlineAfterMs) || !withinSchedule(h.schedule, now)) return 'offline'
  return 'online'
}

/** Mirrors on this host count toward their shard's target. */
export function isCounted(h: StateInput, now: number, offlineAfterMs: number): boolean {
  return h.exitedAt === null && h.exitStartedAt === null && !isSuspended(h) && isOnline(h, now, offlineAfterMs)
}

/** The host takes and serves bytes now. */
export function isAvailable(h: StateInput, now: number, offlineAfterMs: number): boolean {
  return h.exitedAt === null && isOnline(h, now, offlineAfterMs) && withinSchedule(h.schedule, now)
}

export function contactOf(h: HostRecord): HostContact {
  return { id: h.id, url: h.url, fingerprint: h.fingerprint, cert: h.cert, region: h.region }
}

export function contactsOf(hosts: Iterable<HostRecord>): Record<string, HostContact> {
  const out: Record<string, HostContact> = {}
  for (const h of hosts) out[h.id] = contactOf(h)
  return out
}
