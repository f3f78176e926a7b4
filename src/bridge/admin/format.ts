/** Plain-text tables for the admin CLI (the --json forms are the stable interface). */
import { formatBytes } from '../../shared/units.js'
import type { ShardSummary } from '../shards/store.js'
import type { HostRow, LedgerSummary } from './admin.js'
import { HOST_STATES, type NetworkStats } from './stats.js'

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000))
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`
}

export function hostsTable(rows: readonly HostRow[], now: number): string {
  if (rows.length === 0) return 'no hosts\n'
  return table(
    ['ID', 'URL', 'REGION', 'STATE', 'CAPACITY', 'FREE', 'SHARDS', 'FAILURES', 'REPUTATION', 'LAST HEARTBEAT'],
    rows.map((h) => [h.id.slice(0, 16), h.url, h.region || '-', h.state + (h.banned ? ' (banned)' : h.approved ? ' (approved)' : ''), formatBytes(h.capacity),
      formatBytes(h.free), String(h.shards), String(h.failures), h.reputation.toFixed(3), ago(h.lastHeartbeat, now)]),
  )
}

export function shardsTable(rows: readonly ShardSummary[]): string {
  if (rows.length === 0) return 'no shards\n'
  return table(['HASH', 'SIZE', 'MIRRORS', 'HOSTS'], rows.map((s) => [s.hash, formatBytes(s.size), String(s.hosts.length), s.hosts.map((h) => h.slice(0, 12)).join(',')]))
}

/** The network at a glance: a few labelled sections, one idea per line. */
export function statsText(s: NetworkStats): string {
  const pct = (r: number | null): string => (r === null ? 'n/a' : `${(r * 100).toFixed(1)}%`)
  const when = (at: number | null): string => (at === null ? 'never' : ago(at, s.at))
  const count = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`
  const { hostApproval: ap, capacity: c, data: d, repair: r, audits: a } = s
  const sections: Array<[string, string[]]> = [
    ['hosts', [
      `${s.hosts} known: ${HOST_STATES.map((k) => `${s.hostsByState[k]} ${k}`).join(', ')}`,
      `${s.hostsOnline} with a recent heartbeat; ${ap.approved} approved, ${ap.pending} pending approval, ${ap.banned} banned`,
    ]],
    ['capacity', [
      `${formatBytes(c.offered)} offered, ${formatBytes(c.offeredOnline)} of it by online hosts`,
      `${formatBytes(c.used)} used on hosts (${pct(c.usedRatio)} of offered)`,
    ]],
    ['data', [
      `${count(s.users, 'user')}, ${count(s.files, 'file')} (${formatBytes(d.fileBytes)}), ${count(s.versions, 'version')}`,
      `${count(s.shards, 'shard')} (${formatBytes(d.shardBytes)}), ${formatBytes(d.storedBytes)} stored with mirrors`
        + (d.mirrorFactor === null ? '' : ` (x${d.mirrorFactor.toFixed(2)})`),
    ]],
    ['shards', [
      `${s.shardsUnderTarget} under target, ${r.atRisk} at risk (${r.oneCounted} with one counted mirror, ${r.noneCounted} with none)`,
    ]],
    ['repair', [
      `${r.queued} queued (the next round takes ${r.nextRound}), ${r.unrepairable} unrepairable for now (no mirror reachable)`,
      `last 24h: ${r.last24h.ok} copied (${formatBytes(r.last24h.bytes)}), ${r.last24h.failed} failed; last attempt ${when(r.lastAt)}`,
    ]],
    ['audits', [
      `pass rate ${pct(a.passRate)} (${a.passed} passed, ${a.failed} failed, all time)`,
      `last 24h: ${pct(a.last24h.passRate)} (${a.last24h.passed} passed, ${a.last24h.failed} failed, ${a.last24h.inconclusive} inconclusive); last audit ${when(a.lastAt)}`,
    ]],
  ]
  const width = Math.max(...sections.map(([label]) => label.length)) + 2
  return sections.flatMap(([label, lines]) => lines.map((l, i) => (i === 0 ? label : '').padEnd(width) + l)).join('\n') + '\n'
}

export function ledgerTable(rows: readonly LedgerSummary[]): string {
  if (rows.length === 0) return 'no hosts\n'
  const money = (n: number, c: string) => `${n.toFixed(6)} ${c}`
  return table(['HOST', 'GB-HOURS', 'GB SERVED', 'WEEK', 'MONTH', 'YEAR', 'ALL TIME'], rows.map((r) => [
    r.hostId.slice(0, 16), r.storageGBHours.toFixed(6), (r.egressBytes / 1e9).toFixed(6), money(r.earnings.week, r.earnings.currency),
    money(r.earnings.month, r.earnings.currency), money(r.earnings.year, r.earnings.currency), money(r.earnings.allTime, r.earnings.currency),
  ]))
}
