/**
 * Churn scenarios for the durability simulation: how often hosts fail for good, leave gracefully,
 * join, and drop offline for a while. Rates are per host per 30-day month, so they read like what
 * an operator of a volunteer network would quote ("5% of hosts die each month").
 */

export interface Scenario {
  name: string
  /** Fraction of hosts that fail permanently (disk lost, no warning) per month, 0..1. */
  failPerMonth: number
  /** Fraction of hosts that leave gracefully (`xcore exit`, shards handed over first) per month. */
  leavePerMonth: number
  /** New hosts per month, as a fraction of the initial population. */
  joinPerMonth: number
  /** Transient outages per host per month (offline, data kept, back later). */
  outagesPerMonth: number
  /** Median outage length in hours; lengths are log-normal (many short, a few of days). */
  outageMedianHours: number
  /** Sigma of the outage length's log-normal. */
  outageSigma: number
}

const OUTAGE = { outageMedianHours: 1, outageSigma: 1.2 }

/**
 * The presets: permanent failures of 1%, 5%, 10% and 25% of hosts per month, as many graceful
 * leaves again (a bit fewer at the extreme), joins that keep the population level, and outages
 * that get more frequent as the network gets flakier.
 */
export const PRESETS: readonly Scenario[] = [
  { name: 'low', failPerMonth: 0.01, leavePerMonth: 0.02, joinPerMonth: 0.03, outagesPerMonth: 0.25, ...OUTAGE },
  { name: 'medium', failPerMonth: 0.05, leavePerMonth: 0.05, joinPerMonth: 0.10, outagesPerMonth: 0.5, ...OUTAGE },
  { name: 'high', failPerMonth: 0.10, leavePerMonth: 0.10, joinPerMonth: 0.20, outagesPerMonth: 0.75, ...OUTAGE },
  { name: 'extreme', failPerMonth: 0.25, leavePerMonth: 0.15, joinPerMonth: 0.40, outagesPerMonth: 1, ...OUTAGE },
]

const FIELDS: Record<string, keyof Scenario> = {
  fail: 'failPerMonth', leave: 'leavePerMonth', join: 'joinPerMonth',
  outages: 'outagesPerMonth', 'outage-median': 'outageMedianHours', 'outage-sigma': 'outageSigma',
}
const PERCENT = new Set<keyof Scenario>(['failPerMonth', 'leavePerMonth', 'joinPerMonth'])

/**
 * A preset by name, or a custom scenario: `NAME:fail=3,leave=2,join=5,outages=1` where fail, leave
 * and join are percent per month, outages per host per month, outage-median hours. Fields left
 * out take the `medium` preset's values.
 */
export function parseScenario(text: string): Scenario {
  const [name, spec] = text.split(':', 2) as [string, string | undefined]
  const preset = PRESETS.find((p) => p.name === name)
  if (spec === undefined) {
    if (!preset) throw new Error(`unknown scenario "${name}" (presets: ${PRESETS.map((p) => p.name).join(', ')}; or NAME:fail=3,leave=2,join=5,outages=1)`)
    return preset
  }
  const out: Scenario = { ...(preset ?? PRESETS[1]!), name }
  for (const part of spec.split(',').filter(Boolean)) {
    const [k, v] = part.split('=') as [string, string | undefined]
    const field = FIELDS[k]
    const value = Number(v)
    if (!field || v === undefined || !Number.isFinite(value) || value < 0) {
      throw new Error(`bad scenario field "${part}" (fields: ${Object.keys(FIELDS).join(', ')})`)
    }
    if (PERCENT.has(field) && value >= 100) throw new Error(`${k} is a percentage per month, below 100`)
    ;(out as unknown as Record<string, number>)[field] = PERCENT.has(field) ? value / 100 : value
  }
  return out
}
