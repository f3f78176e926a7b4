/**
 * Placement: which hosts receive the mirrors of each shard. A pure function of the candidates it
 * is given (plain data in, plain data out), so its fairness is tested without servers.
 *
 * Invariants:
 * - the mirrors of one shard are on distinct hosts, never on an excluded host;
 * - a host receives a shard only if its free space (after what this batch already put on it)
 *   holds the shard;
 * - among eligible hosts the choice is random, weighted by free space, by reputation, by the
 *   inverse of the host's current load (bytes placed on it lately and not yet reflected in a
 *   heartbeat), so one busy host does not get every shard of a large upload, and by its bandwidth:
 *   a host that limits what it receives to under BANDWIDTH_REFERENCE gets proportionally less.
 * Which hosts are candidates at all (online, in their hours, approved, in the user's regions) is
 * decided before, in candidates.ts.
 */
import { xerr } from '../../shared/errors.js'

export interface PlacementCandidate {
  id: string
  /** Free bytes, already net of pending placements. */
  free: number
  /** Bytes placed on the host recently (pending), the load the weight divides by. */
  load: number
  /** 0..1, see hosts/health.ts. */
  reputation: number
  /** The host's limit on bytes it receives per second, null or absent = unlimited. */
  bandwidth?: number | null
}

export interface ShardToPlace {
  hash: string
  size: number
  /** Hosts that must not get this shard (already holding it, or failed for it). */
  exclude?: ReadonlySet<string>
}

export interface ShardPlaced {
  hash: string
  size: number
  hostIds: string[]
}

/** Load at which a host's weight is halved. */
export const LOAD_SCALE = 64 * 1024 * 1024

/** A host limited to at least this many bytes per second is weighted as an unlimited one. */
export const BANDWIDTH_REFERENCE = 32 * 1000 * 1000

export function placementWeight(c: PlacementCandidate): number {
  const bandwidth = c.bandwidth == null ? 1 : Math.max(0.01, Math.min(1, c.bandwidth / BANDWIDTH_REFERENCE))
  return (Math.max(c.free, 1) * Math.max(c.reputation, 0.01) * bandwidth) / (1 + c.load / LOAD_SCALE)
}

/**
 * Choose `mirrors` distinct hosts for every shard, in order. Throws XC_NOT_ENOUGH_HOSTS with
 * details { needed, available } when a shard has too few eligible hosts.
 */
export function placeShards(
  shards: readonly ShardToPlace[], candidates: readonly PlacementCandidate[], mirrors: number,
  random: () => number = Math.random,
): ShardPlaced[] {
  // Local copies: free space and load move as this batch places shards.
  const pool = candidates.map((c) => ({ ...c }))
  const out: ShardPlaced[] = []
  const eligible: typeof pool = []
  const weights: number[] = []
  for (const shard of shards) {
    eligible.length = 0
    for (const c of pool) if (c.free >= shard.size && !shard.exclude?.has(c.id)) eligible.push(c)
    if (eligible.length < mirrors) {
      throw xerr('XC_NOT_ENOUGH_HOSTS', `shard needs ${mirrors} hosts with ${shard.size} bytes free, ${eligible.length} available`, {
        needed: mirrors, available: eligible.length,
      })
    }
    weights.length = 0
    let total = 0
    for (const c of eligible) {
      const w = placementWeight(c)
      weights.push(w)
      total += w
    }
    const hostIds: string[] = []
    for (let k = 0; k < mirrors; k++) {
      // Weighted draw without replacement: a chosen host's weight drops to 0 for this shard.
      let r = random() * total
      let pick = -1
      for (let i = 0; i < eligible.length; i++) {
        if (weights[i] === 0) continue
        pick = i
        r -= weights[i]!
        if (r < 0) break
      }
      const c = eligible[pick]!
      total -= weights[pick]!
      weights[pick] = 0
      c.free -= shard.size
      c.load += shard.size
      hostIds.push(c.id)
    }
    out.push({ hash: shard.hash, size: shard.size, hostIds })
  }
  return out
}
