/**
 * The durability simulation: a discrete-event model of hosts that join, leave, fail and go offline
 * in simulated time, driving the bridge's REAL decision code. Nothing here decides where a mirror
 * goes or which shard is repaired first:
 *
 * - initial uploads and every repair target come from `placeShards` (placement/place.ts);
 * - which shards need repair, in what order, from which sources, come from `repairQueue`
 *   (repair/priority.ts), and which mirrors are then forgotten from `droppableMirrors`;
 * - whether the bridge still believes a silent host is online comes from `isOnline`
 *   (hosts/health.ts) with the bridge's --offline-after.
 *
 * Words, as in the bridge: a shard has a **target** of N mirrors; a mirror is **counted** while its
 * host heartbeats (or went silent less than offline-after ago) and is not exiting; it is a
 * **source** while its host answers (up or exiting). What the bridge cannot see, the simulation
 * tracks on the side: a **copy** is a mirror whose host still holds the bytes (up, offline or
 * exiting; not failed). A shard is **lost** when its last copy dies.
 *
 * Time only jumps: churn events from the trace, then a repair chore every repair interval. The
 * chore only looks at **dirty** shards (those with a mirror on a host the bridge has just seen go
 * down or start exiting, or still under target from an earlier pass), never at every shard.
 */
import { isOnline } from '../src/bridge/hosts/health.js'
import { placeShards, type PlacementCandidate, type ShardPlaced, type ShardToPlace } from '../src/bridge/placement/place.js'
import { droppableMirrors, repairQueue, type MirrorView, type RepairNeed, type ShardView } from '../src/bridge/repair/priority.js'
import { XError } from '../src/shared/errors.js'
import { hostId, hostIndex, shardHash, shardIndex } from './layout.js'
import { stream, type Random } from './random.js'
import { annualize, lossUpper95, markovLoss, type SimConfig, type SimResult } from './results.js'
import { DAY, Ev, HOUR, type Trace } from './trace.js'

// Host states.
const NOT_JOINED = 0
const UP = 1
const DOWN = 2
const EXITING = 3
const DEAD = 4
const LEFT = 5

type Cause = keyof SimResult['repairBytesBy']

export class Simulation {
  readonly m: number
  readonly size: number
  readonly state: Uint8Array
  readonly lastSeen: Float64Array
  /** Hosts that announced their exit: the bridge never counts them again. */
  readonly exiting: Uint8Array
  readonly used: Float64Array
  readonly hostShards: Set<number>[]
  /** Hosts the bridge still lists: joined, and neither gone nor detected dead. */
  readonly listed = new Set<number>()
  /** Silent hosts the bridge has not yet judged offline. */
  readonly silent = new Set<number>()
  readonly mirrors: number[][]
  readonly copies: Uint8Array
  readonly lostFlag: Uint8Array
  readonly dirty = new Set<number>()
  /** When each shard's repair was last attempted, for the bridge's fair ordering. */
  private readonly lastTried = new Map<string, number>()
  readonly random: Random
  now = 0
  // Statistics.
  lost = 0
  deficit = 0
  oneCopy = 0
  deficitTime = 0
  oneCopyTime = 0
  destroyed = 0
  failedCopies = 0
  largestFailure = 0
  largestExit = 0
  peakUnderTarget = 0
  peakBacklog = 0
  readonly bytes = { failure: 0, outage: 0, exit: 0 }

  constructor(readonly cfg: SimConfig, readonly trace: Trace, layout: Int32Array) {
    const n = trace.hosts.length
    this.m = cfg.mirrors
    this.size = cfg.shardSize
    this.state = new Uint8Array(n)
    this.lastSeen = new Float64Array(n)
    this.exiting = new Uint8Array(n)
    this.used = Float64Array.from(trace.hosts, (h) => h.fill)
    this.hostShards = Array.from({ length: n }, () => new Set<number>())
    this.random = stream(cfg.seed, 'repair', cfg.scenario.name, cfg.mirrors)
    for (let h = 0; h < trace.initial; h++) {
      this.state[h] = UP
      this.listed.add(h)
    }
    this.mirrors = Array.from({ length: cfg.shards }, () => [])
    this.copies = new Uint8Array(cfg.shards)
    this.lostFlag = new Uint8Array(cfg.shards)
    for (let s = 0; s < cfg.shards; s++) {
      for (let k = 0; k < this.m; k++) {
        const h = layout[s * this.m + k]!
        this.mirrors[s]!.push(h)
        this.hostShards[h]!.add(s)
        this.used[h] += this.size
      }
      this.copies[s] = this.m // full: no deficit, no exposure
    }
  }

  // --- what the bridge sees -------------------------------------------------------------------

  counted(h: number): boolean {
    const st = this.state[h]
    if (st === UP) return true
    if ((st === DOWN || st === DEAD) && !this.exiting[h]) return isOnline({ lastSeen: this.lastSeen[h]! }, this.now, this.cfg.offlineAfterMs)
    return false
  }

  view(s: number): { view: ShardView; counted: number } {
    let counted = 0
    const mirrors: MirrorView[] = this.mirrors[s]!.map((h) => {
      const c = this.counted(h)
      if (c) counted++
      const st = this.state[h]
      return { hostId: hostId(h), counted: c, source: st === UP || st === EXITING }
    })
    return { view: { hash: shardHash(s), size: this.size, target: this.m, mirrors }, counted }
  }

  // --- what only the simulation sees ----------------------------------------------------------

  hasData(h: number): boolean {
    const st = this.state[h]
    return st === UP || st === DOWN || st === EXITING
  }

  setCopies(s: number, n: number): void {
    const old = this.copies[s]!
    this.deficit += Math.max(0, this.m - n) - Math.max(0, this.m - old)
    this.oneCopy += Number(n === 1) - Number(old === 1)
    this.copies[s] = n
  }

  advance(t: number): void {
    const dt = t - this.now
    this.deficitTime += this.deficit * dt
    this.oneCopyTime += this.oneCopy * dt
    this.now = t
  }

  lose(s: number): void {
    this.lostFlag[s] = 1
    this.lost++
    for (const h of this.mirrors[s]!) this.hostShards[h]!.delete(s)
    this.mirrors[s] = []
    this.setCopies(s, this.m) // out of the deficit and exposure sums
    this.dirty.delete(s)
  }

  markDirty(h: number): void {
    for (const s of this.hostShards[h]!) this.dirty.add(s)
  }

  // --- churn ----------------------------------------------------------------------------------

  event(kind: number, h: number): void {
    const st = this.state[h]
    switch (kind) {
      case Ev.Join:
        if (st !== NOT_JOINED) break
        this.state[h] = UP
        this.listed.add(h)
        break
      case Ev.Down:
        if (st !== UP) break
        this.state[h] = DOWN
        this.lastSeen[h] = this.now
        this.silent.add(h)
        break
      case Ev.Up:
        if (st !== DOWN) break
        this.state[h] = UP
        this.silent.delete(h) // its shards, if already dirty, are found healthy at the next pass
        break
      case Ev.Leave:
        // `xcore exit`: the operator is online for it; the bridge stops counting the host at once.
        if (st !== UP && st !== DOWN) break
        this.state[h] = EXITING
        this.exiting[h] = 1
        this.silent.delete(h)
        this.largestExit = Math.max(this.largestExit, this.hostShards[h]!.size)
        this.markDirty(h)
        this.departIfDone(h)
        break
      case Ev.Fail: {
        if (st !== UP && st !== DOWN && st !== EXITING) break
        if (st !== DOWN) this.lastSeen[h] = this.now
        this.state[h] = DEAD
        if (st === EXITING) this.listed.delete(h)
        else this.silent.add(h)
        this.largestFailure = Math.max(this.largestFailure, this.hostShards[h]!.size)
        for (const s of this.hostShards[h]!) {
          this.destroyed++
          this.setCopies(s, this.copies[s]! - 1)
          if (this.copies[s] === 0) this.lose(s)
        }
        break
      }
    }
  }

  departIfDone(h: number): void {
    if (this.state[h] === EXITING && this.hostShards[h]!.size === 0) {
      this.state[h] = LEFT
      this.listed.delete(h)
    }
  }

  drop(s: number, h: number): void {
    const ms = this.mirrors[s]!
    ms.splice(ms.indexOf(h), 1)
    this.hostShards[h]!.delete(s)
    if (this.hasData(h)) {
      this.used[h] -= this.size
      this.setCopies(s, this.copies[s]! - 1)
      if (this.copies[s] === 0) this.lose(s)
    }
    this.departIfDone(h)
  }

  /** Drop what droppableMirrors allows; true when the shard is back at target. */
  settle(s: number): boolean {
    const { view, counted } = this.view(s)
    for (const id of droppableMirrors(view)) this.drop(s, hostIndex(id))
    return counted >= this.m
  }

  // --- the repair chore -----------------------------------------------------------------------

  repairPass(): void {
    for (const h of [...this.silent]) {
      if (this.counted(h)) continue
      this.silent.delete(h)
      this.markDirty(h)
      if (this.state[h] === DEAD) this.listed.delete(h)
    }
    if (this.dirty.size === 0) return
    const views: ShardView[] = []
    for (const s of [...this.dirty]) {
      const { view, counted } = this.view(s)
      if (counted >= this.m) {
        this.settle(s)
        this.dirty.delete(s)
        this.lastTried.delete(view.hash)
      } else {
        views.push(view)
      }
    }
    const { needs, unrepairable } = repairQueue(views, this.lastTried)
    const underTarget = needs.length + unrepairable
    this.peakUnderTarget = Math.max(this.peakUnderTarget, underTarget)

    // Most urgent first, until the interval's budget is spent (at least one, so a budget smaller
    // than a shard still makes progress).
    const chosen: RepairNeed[] = []
    let spent = 0
    for (const n of needs) {
      const cost = n.size * n.missing
      if (chosen.length > 0 && spent + cost > this.cfg.budgetBytes) break
      chosen.push(n)
      spent += cost
      this.lastTried.set(n.hash, this.now)
    }
    const byMissing = new Map<number, RepairNeed[]>()
    for (const n of chosen) {
      const g = byMissing.get(n.missing)
      if (g) g.push(n)
      else byMissing.set(n.missing, [n])
    }
    let repaired = 0
    // One candidate list per pass, as the bridge reads its hosts once per round; what this pass
    // places moves free space by a few shards on hosts with gigabytes free.
    const cands = chosen.length > 0 ? this.candidates() : []
    for (const [missing, group] of [...byMissing].sort((a, b) => b[0] - a[0])) {
      const causes = new Map(group.map((n) => [n.hash, this.cause(shardIndex(n.hash))]))
      const placed = this.place(group, missing, cands)
      for (const p of placed) {
        const s = shardIndex(p.hash)
        const cause = causes.get(p.hash)!
        for (const id of p.hostIds) {
          const h = hostIndex(id)
          if (this.state[h] !== UP) { this.failedCopies++; continue }
          this.mirrors[s]!.push(h)
          this.hostShards[h]!.add(s)
          this.used[h] += this.size
          this.setCopies(s, this.copies[s]! + 1)
          this.bytes[cause] += this.size
        }
        if (this.settle(s)) {
          this.dirty.delete(s)
          this.lastTried.delete(p.hash)
          repaired++
        }
      }
    }
    this.peakBacklog = Math.max(this.peakBacklog, underTarget - repaired)
  }

  /** Why a shard is under target, for the traffic breakdown (the bridge cannot tell these apart). */
  cause(s: number): Cause {
    let cause: Cause = 'exit'
    for (const h of this.mirrors[s]!) {
      if (this.state[h] === DEAD) return 'failure'
      if (this.state[h] === DOWN) cause = 'outage'
    }
    return cause
  }

  candidates(): PlacementCandidate[] {
    const out: PlacementCandidate[] = []
    for (const h of this.listed) {
      if (this.state[h] === EXITING || !this.counted(h)) continue
      const plan = this.trace.hosts[h]!
      out.push({ id: hostId(h), free: Math.max(0, plan.capacity - this.used[h]!), load: 0, reputation: 1 })
    }
    return out
  }

  place(group: RepairNeed[], missing: number, cands: readonly PlacementCandidate[]): ShardPlaced[] {
    const toPlace: ShardToPlace[] = group.map((n) => ({ hash: n.hash, size: n.size, exclude: new Set(n.exclude) }))
    try {
      return placeShards(toPlace, cands, missing, this.random)
    } catch (err) {
      if (!(err instanceof XError) || err.code !== 'XC_NOT_ENOUGH_HOSTS') throw err
    }
    // Too few eligible hosts for some shard (tiny networks): like the repairer, add what can be
    // added, one shard at a time, with fewer mirrors if need be.
    const out: ShardPlaced[] = []
    for (const one of toPlace) {
      for (let k = missing; k >= 1; k--) {
        try {
          out.push(...placeShards([one], cands, k, this.random))
          break
        } catch (err) {
          if (!(err instanceof XError) || err.code !== 'XC_NOT_ENOUGH_HOSTS') throw err
        }
      }
    }
    return out
  }

  run(): void {
    const { time, kind, host } = this.trace
    const horizon = this.cfg.days * DAY
    let i = 0
    for (let tick = this.cfg.repairIntervalMs; ; tick += this.cfg.repairIntervalMs) {
      const until = Math.min(tick, horizon)
      for (; i < time.length && time[i]! <= until; i++) {
        this.advance(time[i]!)
        this.event(kind[i]!, host[i]!)
      }
      this.advance(until)
      if (tick > horizon) break
      this.repairPass()
    }
  }

  result(): SimResult {
    const { cfg, trace } = this
    const years = cfg.days / 365
    const lossRate = this.lost / cfg.shards
    // Little's law: mean time a destroyed copy stays missing = missing-copy time / copies destroyed.
    const restoreMs = this.destroyed > 0 ? this.deficitTime / this.destroyed : 0
    const storedBytes = cfg.shards * cfg.shardSize * cfg.mirrors
    const repairBytes = this.bytes.failure + this.bytes.outage + this.bytes.exit
    let hostsAtEnd = 0
    for (let h = 0; h < this.state.length; h++) {
      const st = this.state[h]
      if (st === UP || st === DOWN || st === EXITING) hostsAtEnd++
    }
    return {
      scenario: cfg.scenario.name, mirrors: cfg.mirrors, hosts: cfg.hosts, shards: cfg.shards, days: cfg.days,
      lost: this.lost,
      lossRate,
      annualLoss: annualize(lossRate, years),
      annualLossUpper95: annualize(lossUpper95(this.lost, cfg.shards), years),
      restoreHours: restoreMs / HOUR,
      modelAnnualLoss: markovLoss(cfg.mirrors, trace.failHazard, restoreMs, 365 * DAY),
      exposureAnnualLoss: (trace.failHazard * this.oneCopyTime) / cfg.shards / years,
      repairBytes,
      repairBytesBy: { ...this.bytes },
      storedBytes,
      repairPerStoredYear: repairBytes / storedBytes / years,
      peakUnderTarget: this.peakUnderTarget,
      peakBacklog: this.peakBacklog,
      failedCopies: this.failedCopies,
      largestFailure: this.largestFailure,
      largestExit: this.largestExit,
      churn: { ...trace.counts, hostsAtEnd },
    }
  }
}
