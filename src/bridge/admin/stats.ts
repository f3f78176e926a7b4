/**
 * The network at a glance (`xbridge admin stats`), as pure functions over what the store counted.
 *
 * Hosts are judged one by one with the functions the chores use (hosts/health.ts): each host's
 * **state** (online, offline, suspended, exiting, exited), whether its mirrors are **counted**
 * toward their shard's target, and whether it can be a repair **source** now. Hosts are few and
 * are loaded; shards are many and are not: the store groups them by (target, counted mirrors, any
 * mirror on a source), and the repair checker's rule (repair/priority.ts) is applied to the groups:
 * - **under target**: fewer counted mirrors than the target;
 * - **queued**: under target with a source, i.e. exactly the shards `repairQueue` returns as needs,
 *   which repair rounds work through, at most `repairsPerRound` per round;
 * - **unrepairable**: under target with no source (every mirror's host is away right now);
 * - **at risk**: under target with one counted mirror or none.
 * A test checks these counts against `repairQueue` itself on random shards.
 */
import type { HostState } from '../../shared/protocol.js'
import { hostState, isAvailable, isCounted, isOnline } from '../hosts/health.js'
import type { HostRecord } from '../hosts/store.js'
import type { ShardHealthRow, StatsCounts } from './store.js'

/** "Recent" in the stats: audits and repairs of the last 24 hours. */
export const RECENT_MS = 24 * 3600_000

export const HOST_STATES: readonly HostState[] = ['online', 'offline', 'suspended', 'exiting', 'exited']

type HostInput = Parameters<typeof hostState>[0] & Pick<HostRecord, 'id' | 'capacity' | 'used' | 'approved'>

export interface HostTotals {
  hosts: number
  /** Heartbeat within offlineAfter, whatever the state (the `online` column of `hosts list`). */
  heartbeating: number
  byState: Record<HostState, number>
  /** Banned hosts; approved and pending (neither, not exited) ones. */
  approval: { approved: number; pending: number; banned: number }
  /** Bytes offered and reported used by hosts that have not exited, and offered by online ones. */
  capacity: { offered: number; offeredOnline: number; used: number; usedRatio: number | null }
  /** Ids of hosts whose mirrors count, and of hosts that can serve a copy now. */
  counted: string[]
  sources: string[]
}

export function hostTotals(hosts: Iterable<HostInput>, now: number, offlineAfterMs: number): HostTotals {
  const byState = Object.fromEntries(HOST_STATES.map((s) => [s, 0])) as Record<HostState, number>
  const out: HostTotals = {
    hosts: 0, heartbeating: 0, byState, approval: { approved: 0, pending: 0, banned: 0 },
    capacity: { offered: 0, offeredOnline: 0, used: 0, usedRatio: null }, counted: [], sources: [],
  }
  for (const h of hosts) {
    const state = hostState(h, now, offlineAfterMs)
    out.hosts++
    byState[state]++
    if (isOnline(h, now, offlineAfterMs)) out.heartbeating++
    if (h.banned) out.approval.banned++
    else if (h.approved) out.approval.approved++
    else if (state !== 'exited') out.approval.pending++
    if (state !== 'exited') {
      out.capacity.offered += h.capacity
      out.capacity.used += h.used
    }
    if (state === 'online') out.capacity.offeredOnline += h.capacity
    if (isCounted(h, now, offlineAfterMs)) out.counted.push(h.id)
    if (isAvailable(h, now, offlineAfterMs)) out.sources.push(h.id)
  }
  out.capacity.usedRatio = ratio(out.capacity.used, out.capacity.offered)
  return out
}

export interface ShardTotals {
  shards: number
  /** Each shard once, and every mirror. */
  bytes: number
  storedBytes: number
  underTarget: number
  atRisk: number
  oneCounted: number
  noneCounted: number
  queued: number
  /** What the next repair round takes from the queue. */
  nextRound: number
  unrepairable: number
}

export function shardTotals(rows: Iterable<ShardHealthRow>, repairsPerRound = Infinity): ShardTotals {
  const out: ShardTotals = { shards: 0, bytes: 0, storedBytes: 0, underTarget: 0, atRisk: 0, oneCounted: 0, noneCounted: 0, queued: 0, nextRound: 0, unrepairable: 0 }
  for (const r of rows) {
    out.shards += r.shards
    out.bytes += r.bytes
    out.storedBytes += r.storedBytes
    if (r.counted >= r.target) continue
    out.underTarget += r.shards
    if (r.hasSource) out.queued += r.shards
    else out.unrepairable += r.shards
    if (r.counted === 1) out.oneCounted += r.shards
    if (r.counted === 0) out.noneCounted += r.shards
  }
  out.atRisk = out.oneCounted + out.noneCounted
  out.nextRound = Math.min(out.queued, repairsPerRound)
  return out
}

/** passed / (passed + failed); inconclusive results are no evidence either way. Null with no evidence. */
export function passRate(passed: number, failed: number): number | null {
  return ratio(passed, passed + failed)
}

function ratio(a: number, b: number): number | null {
  return b > 0 ? a / b : null
}

/** The `--json` shape. The first eight fields are the original ones; scripts may rely on all of them. */
export interface NetworkStats {
  users: number
  hosts: number
  /** Hosts with a heartbeat within --offline-after, whatever their state. */
  hostsOnline: number
  /** Distinct shards the bridge knows. */
  shards: number
  /** Shards with fewer counted mirrors than their target (the repair checker's notion). */
  shardsUnderTarget: number
  /** Bytes held on hosts, every mirror counted. */
  bytesStored: number
  /** File nodes, and committed versions (every version, not only current ones). */
  files: number
  versions: number
  /** When this was measured, Unix ms. */
  at: number
  hostsByState: Record<HostState, number>
  hostApproval: HostTotals['approval']
  capacity: HostTotals['capacity']
  data: { fileBytes: number; shardBytes: number; storedBytes: number; mirrorFactor: number | null }
  repair: Omit<ShardTotals, 'shards' | 'bytes' | 'storedBytes'> & {
    last24h: { ok: number; failed: number; bytes: number }
    lastAt: number | null
  }
  audits: {
    passed: number
    failed: number
    passRate: number | null
    last24h: { passed: number; failed: number; inconclusive: number; passRate: number | null }
    lastAt: number | null
  }
}

export interface StatsInput {
  at: number
  counts: StatsCounts
  hosts: HostTotals
  shards: ShardTotals
  recentAudits: { passed: number; failed: number; inconclusive: number }
  recentRepairs: { ok: number; failed: number; bytes: number }
}

export function composeStats(i: StatsInput): NetworkStats {
  const { counts: c, hosts: h, shards: s } = i
  return {
    users: c.users, hosts: h.hosts, hostsOnline: h.heartbeating, shards: s.shards, shardsUnderTarget: s.underTarget,
    bytesStored: s.storedBytes, files: c.files, versions: c.versions,
    at: i.at,
    hostsByState: h.byState,
    hostApproval: h.approval,
    capacity: h.capacity,
    data: { fileBytes: c.fileBytes, shardBytes: s.bytes, storedBytes: s.storedBytes, mirrorFactor: ratio(s.storedBytes, s.bytes) },
    repair: {
      underTarget: s.underTarget, atRisk: s.atRisk, oneCounted: s.oneCounted, noneCounted: s.noneCounted, queued: s.queued,
      nextRound: s.nextRound, unrepairable: s.unrepairable, last24h: i.recentRepairs, lastAt: c.lastRepairAt,
    },
    audits: {
      passed: c.auditsPassed, failed: c.auditsFailed, passRate: passRate(c.auditsPassed, c.auditsFailed),
      last24h: { ...i.recentAudits, passRate: passRate(i.recentAudits.passed, i.recentAudits.failed) },
      lastAt: c.lastAuditAt,
    },
  }
}
