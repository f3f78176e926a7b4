/**
 * What one durability run is asked (SimConfig) and what it reports (SimResult), with the
 * statistics that turn counts into per-year probabilities.
 */
import type { Scenario } from './scenarios.js'

export interface SimConfig {
  /** Hosts at time 0. */
  hosts: number
  shards: number
  shardSize: number
  days: number
  seed: number
  mirrors: number
  scenario: Scenario
  repairIntervalMs: number
  offlineAfterMs: number
  /** Bytes the repair chore may copy per interval; Infinity for no limit. */
  budgetBytes: number
}

export interface SimResult {
  scenario: string
  mirrors: number
  hosts: number
  shards: number
  days: number
  /** Shards whose last copy died. */
  lost: number
  /** lost / shards over the simulated period. */
  lossRate: number
  /** Observed loss, as a per-shard probability per year. */
  annualLoss: number
  /** 95% upper bound of the per-year probability (useful when nothing was lost). */
  annualLossUpper95: number
  /** Mean hours a destroyed copy stays missing (detection + queue + copy), by Little's law. */
  restoreHours: number
  /** Per-shard loss probability per year from the Markov model m!·λ^m·τ^(m-1), τ = restoreHours. */
  modelAnnualLoss: number
  /** λ × (shard-hours at one copy): expected losses given the exposure the run saw, per shard-year. */
  exposureAnnualLoss: number
  repairBytes: number
  repairBytesBy: { failure: number; outage: number; exit: number }
  /** Shard bytes × mirrors: what hosts store for the sample. */
  storedBytes: number
  /** Repair bytes per year as a multiple of storedBytes. */
  repairPerStoredYear: number
  /** Most shards under target at the start of a repair pass. */
  peakUnderTarget: number
  /** Most shards still under target after a repair pass (waiting for budget or a source). */
  peakBacklog: number
  /** Copies ordered to a host that had gone silent but was not yet judged offline. */
  failedCopies: number
  /** Most mirrors one host held when it failed: the biggest single burst of repair work. */
  largestFailure: number
  /** Most mirrors one host held when it started its exit (all to hand over at once). */
  largestExit: number
  churn: { joins: number; fails: number; leaves: number; outages: number; hostsAtEnd: number }
}

/** A per-period probability as a per-year one, for a period of `years`. */
export function annualize(p: number, years: number): number {
  return 1 - Math.pow(1 - p, 1 / years)
}

/** 95% upper bound of a per-period loss probability after `k` losses among `n` shards. */
export function lossUpper95(k: number, n: number): number {
  // No loss: P(0 | p) = (1-p)^n = 0.05 at the bound (the "rule of three"). Otherwise the Wilson
  // score bound, one-sided.
  if (k === 0) return 1 - Math.pow(0.05, 1 / n)
  const z = 1.645
  const p = k / n
  const d = 1 + (z * z) / n
  return Math.min(1, (p + (z * z) / (2 * n) + z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d)
}

/**
 * The textbook Markov estimate of a shard's loss probability per period: with copies destroyed
 * independently at rate λ each and a missing copy restored after τ on average, data is lost at
 * rate m·λ × (m-1)·λ·τ × … × 1·λ·τ = m!·λ^m·τ^(m-1).
 */
export function markovLoss(mirrors: number, lambda: number, tau: number, period: number): number {
  let factorial = 1
  for (let k = 2; k <= mirrors; k++) factorial *= k
  return 1 - Math.exp(-factorial * Math.pow(lambda, mirrors) * Math.pow(tau, mirrors - 1) * period)
}
