/** Plain-text tables for the admin CLI (the --json forms are the stable interface). */
import { formatBytes } from '../../shared/units.js'
import type { ShardSummary } from '../shards/store.js'
import type { HostRow, LedgerSummary } from './admin.js'
import type { NetworkStats } from './store.js'

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

export function statsTable(s: NetworkStats): string {
  return table(['WHAT', 'VALUE'], [
    ['users', String(s.users)], ['hosts', String(s.hosts)], ['hosts online', String(s.hostsOnline)],
    ['shards', String(s.shards)], ['shards under target', String(s.shardsUnderTarget)],
    ['bytes stored', formatBytes(s.bytesStored)], ['files', String(s.files)], ['versions', String(s.versions)],
  ])
}

export function ledgerTable(rows: readonly LedgerSummary[]): string {
  if (rows.length === 0) return 'no hosts\n'
  const money = (n: number, c: string) => `${n.toFixed(6)} ${c}`
  return table(['HOST', 'GB-HOURS', 'GB SERVED', 'WEEK', 'MONTH', 'YEAR', 'ALL TIME'], rows.map((r) => [
    r.hostId.slice(0, 16), r.storageGBHours.toFixed(6), (r.egressBytes / 1e9).toFixed(6), money(r.earnings.week, r.earnings.currency),
    money(r.earnings.month, r.earnings.currency), money(r.earnings.year, r.earnings.currency), money(r.earnings.allTime, r.earnings.currency),
  ]))
}
