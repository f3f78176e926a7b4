/** The durability table, as aligned text for people (the --json form is for programs). */
import type { SimResult } from './simulate.js'
import type { Scenario } from './scenarios.js'

const TiB = 1024 ** 4

function sci(p: number): string {
  if (p === 0) return '0'
  if (p >= 0.01) return p.toFixed(3)
  return p.toExponential(1)
}

export function table(header: readonly string[], rows: readonly (readonly string[])[], rightAlign = (col: number) => col > 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (rightAlign(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n'
}

export function scenarioTable(scenarios: readonly Scenario[]): string {
  const pct = (x: number) => `${+(x * 100).toFixed(2)}%`
  return table(
    ['scenario', 'fail/mo', 'leave/mo', 'join/mo', 'outages/host/mo', 'outage median', 'sigma'],
    scenarios.map((s) => [s.name, pct(s.failPerMonth), pct(s.leavePerMonth), pct(s.joinPerMonth),
      String(s.outagesPerMonth), `${s.outageMedianHours} h`, String(s.outageSigma)]),
    (i) => i > 0,
  )
}

export function resultTable(results: readonly SimResult[]): string {
  return table(
    ['mirrors', 'scenario', 'lost', 'lost/shard/yr', '95% bound', 'model p/yr', 'restore h', 'repair TiB', 'x stored/yr', 'outage share', 'peak under', 'peak backlog'],
    results.map((r) => [
      String(r.mirrors), r.scenario, String(r.lost), sci(r.annualLoss), `<${sci(r.annualLossUpper95)}`,
      sci(r.modelAnnualLoss), r.restoreHours.toFixed(2), (r.repairBytes / TiB).toFixed(3), r.repairPerStoredYear.toFixed(2),
      r.repairBytes > 0 ? `${Math.round((100 * r.repairBytesBy.outage) / r.repairBytes)}%` : '-',
      String(r.peakUnderTarget), String(r.peakBacklog),
    ]),
    (i) => i !== 1,
  )
}
