/**
 * The churn trace: every host's life in simulated time, drawn before the simulation runs.
 *
 * The trace depends only on (seed, population size, scenario, horizon), never on the mirror count
 * or on what the bridge does, so runs with 2, 3 and 4 mirrors face exactly the same failures,
 * leaves, joins and outages (common random numbers: their difference is the mirrors', not luck's).
 *
 * Per host: a capacity (log-normal, median 1 TB, clamped to 50 GB..20 TB) already partly filled by
 * data outside the simulated sample (initial hosts) or empty (joiners); a permanent-failure time
 * and a leave time, both exponential (memoryless hazards from the monthly rates); and transient
 * outages, a Poisson process whose lengths are log-normal, until the host fails or leaves.
 */
import { exponential, logNormal, stream, type Random } from './random.js'
import type { Scenario } from './scenarios.js'

export const HOUR = 3_600_000
export const DAY = 24 * HOUR
export const MONTH = 30 * DAY

export const Ev = { Join: 0, Down: 1, Up: 2, Leave: 3, Fail: 4 } as const
export type Ev = (typeof Ev)[keyof typeof Ev]

export interface HostPlan {
  capacity: number
  /** Bytes used by data outside the simulated sample. */
  fill: number
}

export interface Trace {
  hosts: HostPlan[]
  /** How many of `hosts` exist at time 0; the rest join later, in index order. */
  initial: number
  /** Events in time order, as parallel arrays. */
  time: Float64Array
  kind: Uint8Array
  host: Int32Array
  /** Permanent-failure hazard per host, per ms (for the loss model). */
  failHazard: number
  counts: { joins: number; fails: number; leaves: number; outages: number }
}

const GB = 1e9

function capacity(random: Random): number {
  return Math.round(Math.min(20_000 * GB, Math.max(50 * GB, logNormal(random, 1000 * GB, 1))))
}

/** Monthly fraction p to a constant hazard per ms: P(event within a month) = p. */
export function hazard(p: number): number {
  return p <= 0 ? 0 : -Math.log(1 - p) / MONTH
}

/** The population at time 0; the same for every scenario of a seed. */
export function population(seed: number, hosts: number): HostPlan[] {
  const random = stream(seed, 'population')
  return Array.from({ length: hosts }, () => {
    const cap = capacity(random)
    return { capacity: cap, fill: Math.round(cap * random() * 0.8) }
  })
}

export function churnTrace(seed: number, initial: readonly HostPlan[], scenario: Scenario, horizon: number): Trace {
  const random = stream(seed, 'churn', scenario.name, scenario.failPerMonth, scenario.leavePerMonth,
    scenario.joinPerMonth, scenario.outagesPerMonth, scenario.outageMedianHours, scenario.outageSigma)
  const hosts = initial.map((h) => ({ ...h }))
  const failHazard = hazard(scenario.failPerMonth)
  const leaveHazard = hazard(scenario.leavePerMonth)
  const outageGap = scenario.outagesPerMonth > 0 ? MONTH / scenario.outagesPerMonth : Infinity
  const joinGap = scenario.joinPerMonth > 0 ? MONTH / (scenario.joinPerMonth * initial.length) : Infinity
  const ev: { t: number; k: Ev; h: number }[] = []
  const counts = { joins: 0, fails: 0, leaves: 0, outages: 0 }

  const life = (h: number, start: number): void => {
    const failAt = start + exponential(random, failHazard > 0 ? 1 / failHazard : Infinity)
    const leaveAt = start + exponential(random, leaveHazard > 0 ? 1 / leaveHazard : Infinity)
    // A host that fails after starting its exit fails during (or after) the handover; the
    // simulation ignores the failure once the host is gone.
    if (failAt < horizon) { ev.push({ t: failAt, k: Ev.Fail, h }); if (failAt < leaveAt) counts.fails++ }
    if (leaveAt < horizon && leaveAt < failAt) { ev.push({ t: leaveAt, k: Ev.Leave, h }); counts.leaves++ }
    const end = Math.min(failAt, leaveAt, horizon)
    for (let t = start + exponential(random, outageGap); t < end;) {
      const length = logNormal(random, scenario.outageMedianHours * HOUR, scenario.outageSigma)
      ev.push({ t, k: Ev.Down, h })
      counts.outages++
      if (t + length < horizon) ev.push({ t: t + length, k: Ev.Up, h })
      t += length + exponential(random, outageGap)
    }
  }

  for (let h = 0; h < hosts.length; h++) life(h, 0)
  for (let t = exponential(random, joinGap); t < horizon; t += exponential(random, joinGap)) {
    const h = hosts.length
    hosts.push({ capacity: capacity(random), fill: 0 })
    ev.push({ t, k: Ev.Join, h })
    counts.joins++
    life(h, t)
  }
  // Ties (never in practice with continuous times) resolve by kind, then host: still deterministic.
  ev.sort((a, b) => a.t - b.t || a.k - b.k || a.h - b.h)
  return {
    hosts, initial: initial.length, failHazard, counts,
    time: Float64Array.from(ev, (e) => e.t), kind: Uint8Array.from(ev, (e) => e.k), host: Int32Array.from(ev, (e) => e.h),
  }
}
