/**
 * Which hosts may receive data now, as placement candidates. A candidate is available (heartbeat
 * fresh, within its online hours), trusted (not suspended, banned, exiting or exited), approved
 * when the bridge requires approval, and in one of the user's regions when the account is limited
 * to regions. Free space and load are net of placements not yet reflected in a heartbeat.
 */
import { xerr } from '../../shared/errors.js'
import { isAvailable, isCounted, reputationOf } from '../hosts/health.js'
import type { HostRecord } from '../hosts/store.js'
import type { PlacementCandidate } from './place.js'

export interface CandidateRules {
  now: number
  offlineAfterMs: number
  requireApproval: boolean
  /** null = any region. */
  regions: readonly string[] | null
}

export function eligible(h: HostRecord, r: CandidateRules): boolean {
  return isAvailable(h, r.now, r.offlineAfterMs) && isCounted(h, r.now, r.offlineAfterMs)
    && (!r.requireApproval || h.approved) && (r.regions === null || r.regions.includes(h.region))
}

export function placementCandidates(hosts: readonly HostRecord[], pending: ReadonlyMap<string, number>, r: CandidateRules): PlacementCandidate[] {
  return hosts.filter((h) => eligible(h, r)).map((h) => {
    const load = pending.get(h.id) ?? 0
    return { id: h.id, free: Math.max(0, h.capacity - h.used - load), load, reputation: reputationOf(h), bandwidth: h.maxDownloadRate }
  })
}

/**
 * Turn a placement shortfall into the error a region-limited user should see: which regions, how
 * many hosts there are, how many are needed.
 */
export function regionShortfall(err: unknown, regions: readonly string[] | null): unknown {
  const x = err as { code?: string; details?: { needed?: number; available?: number } }
  if (regions === null || x?.code !== 'XC_NOT_ENOUGH_HOSTS') return err
  return xerr('XC_REGION', `this account keeps its data in ${regions.join(', ')}: a shard needs ${x.details?.needed} hosts there and ${x.details?.available} are eligible`, {
    regions: [...regions], needed: x.details?.needed ?? 0, available: x.details?.available ?? 0,
  })
}
