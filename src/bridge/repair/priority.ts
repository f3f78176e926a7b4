/**
 * Repair decisions, as pure functions: which shards need new mirrors, in what order, which
 * mirror to copy from, and which mirrors may be dropped once a shard is healthy again.
 *
 * Words: a mirror is **counted** when its host is trusted with data right now (heartbeating, not
 * suspended, banned, exiting or exited); a counted host outside its online hours still counts, it
 * is expected back. A mirror is a possible **source** when its host answers transfers now
 * (heartbeating and within its hours), whether or not it counts: an exiting or suspended host may
 * still hand a shard over, and the copy is hash-verified anyway.
 *
 * Invariants:
 * - a shard needs repair when its counted mirrors are fewer than its target;
 * - the fewer counted mirrors a shard has left, the sooner it is repaired (0 counted mirrors but a
 *   source first: it is one failure from loss);
 * - among equally urgent shards, the one whose last repair attempt is oldest (never tried first)
 *   goes first, so shards that keep failing cannot starve the rest of a capped round;
 * - a mirror that does not count is dropped only once the shard has `target` counted mirrors
 *   without it, so handing over never lowers redundancy.
 */

export interface MirrorView {
  hostId: string
  /** Counts toward the shard's target (see above). */
  counted: boolean
  /** Can serve a copy now. */
  source: boolean
}

export interface ShardView {
  hash: string
  size: number
  target: number
  /** Oldest first. */
  mirrors: readonly MirrorView[]
}

export interface RepairNeed {
  hash: string
  size: number
  /** Counted mirrors now. */
  counted: number
  /** Mirrors to add. */
  missing: number
  /** Hosts that can serve the copy, counted ones first. */
  sources: string[]
  /** Hosts that must not receive the new mirrors (they already have one). */
  exclude: string[]
}

/**
 * Shards under target that can be repaired (at least one source), most urgent first. `lastTried`
 * gives when a shard's repair was last attempted (0 or absent: never).
 */
export function repairQueue(shards: Iterable<ShardView>, lastTried?: ReadonlyMap<string, number>): { needs: RepairNeed[]; unrepairable: number } {
  const needs: RepairNeed[] = []
  let unrepairable = 0
  for (const s of shards) {
    let counted = 0
    for (const m of s.mirrors) if (m.counted) counted++
    if (counted >= s.target) continue
    const sources = s.mirrors.filter((m) => m.source).sort((a, b) => Number(b.counted) - Number(a.counted)).map((m) => m.hostId)
    if (sources.length === 0) {
      unrepairable++
      continue
    }
    needs.push({ hash: s.hash, size: s.size, counted, missing: s.target - counted, sources, exclude: s.mirrors.map((m) => m.hostId) })
  }
  const tried = (h: string): number => lastTried?.get(h) ?? 0
  needs.sort((a, b) => a.counted - b.counted || b.missing - a.missing || tried(a.hash) - tried(b.hash) || (a.hash < b.hash ? -1 : 1))
  return { needs, unrepairable }
}

/**
 * Mirrors the shard no longer needs: once it has its target in counted mirrors, every mirror that
 * does not count, and counted ones beyond the target (a host that came back after its shards were
 * repaired elsewhere). Of those, the ones that cannot serve now go first, then the newest (mirrors
 * are listed oldest first), so a host that returns keeps what it already held elsewhere.
 */
export function droppableMirrors(s: ShardView): string[] {
  const counted = s.mirrors.filter((m) => m.counted)
  if (counted.length < s.target) return []
  const extra = [...counted.filter((m) => !m.source), ...counted.filter((m) => m.source).reverse()].slice(0, counted.length - s.target)
  return [...s.mirrors.filter((m) => !m.counted), ...extra].map((m) => m.hostId)
}
