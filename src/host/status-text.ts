/**
 * Human text for `xcore status`, `xcore config` and `xcore exit` (the CLI prints it; --json prints
 * the data), and the figures the web dashboard shows (statusFigures, shared with `xcore status`).
 */
import type { HostSelf } from '../shared/protocol.js'
import { formatBytes } from '../shared/units.js'
import type { HostSettings } from './settings.js'
import type { HostStatus } from './status.js'

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d > 0) return `${d}d ${h}h ${m}m`
  if (h > 0) return `${h}h ${m}m`
  if (m > 0) return `${m}m ${s % 60}s`
  return `${s}s`
}

export const formatRate = (bps: number | null): string => (bps === null ? 'unlimited' : `${formatBytes(bps)}/s`)

/** Cents, or four significant digits below a cent: a new host's first earnings are fractions of one. */
export const formatMoney = (n: number, currency: string): string =>
  `${n === 0 || n >= 0.01 ? n.toFixed(2) : n.toPrecision(4).replace(/0+$/, '')} ${currency}`

/**
 * Every figure of the status as the owner reads it, one string each. `xcore status` and the web
 * dashboard both print these, so the two always show the same text for the same status. The
 * dashboard runs this very function in the browser (dashboard/page.ts inlines its source with
 * the helpers above), so it uses nothing but its argument and those helpers.
 */
export function statusFigures(s: HostStatus): StatusFigures {
  const e = s.bridge ? s.bridge.earnings : null
  return {
    status: s.status,
    uptime: s.running ? formatDuration(s.uptimeMs ?? 0) : null,
    upload: formatRate(s.uploadBps),
    download: formatRate(s.downloadBps),
    sent: formatBytes(s.bytesOut),
    received: formatBytes(s.bytesIn),
    capacity: formatBytes(s.capacity),
    used: formatBytes(s.used),
    usedPercent: s.capacity > 0 ? `${((100 * s.used) / s.capacity).toFixed(1)}%` : null,
    shards: String(s.shards),
    earnings: e ? { week: formatMoney(e.week, e.currency), month: formatMoney(e.month, e.currency), year: formatMoney(e.year, e.currency), allTime: formatMoney(e.allTime, e.currency) } : null,
    trust: s.bridge ? `reputation ${s.bridge.reputation.toFixed(2)} (audits: ${s.bridge.auditsPassed} passed, ${s.bridge.auditsFailed} failed)` : null,
    bridgeProblem: e ? null : `bridge unreachable (${s.bridgeError ? s.bridgeError.code : 'XC_UNAVAILABLE'})`,
  }
}

export interface StatusFigures {
  status: string
  /** null when the host is not running. */
  uptime: string | null
  /** Speeds (`1.5 MiB/s`) and totals since start: upload = sent, download = received. */
  upload: string
  download: string
  sent: string
  received: string
  capacity: string
  used: string
  /** Share of the capacity in use (`12.5%`), or null for a capacity of 0. */
  usedPercent: string | null
  shards: string
  /** What the bridge credits this host, or null when it could not be asked. */
  earnings: { week: string; month: string; year: string; allTime: string } | null
  /** The bridge's reputation and audit counts for this host, or null. */
  trust: string | null
  /** Why there are no earnings (`bridge unreachable (XC_TIMEOUT)`), else null. */
  bridgeProblem: string | null
}

export function statusLines(s: HostStatus): string[] {
  const f = statusFigures(s)
  const lines = [
    `host      ${s.hostId}`,
    `url       ${s.url ?? '(not running)'}`,
    `dashboard ${s.dashboardUrl ?? (s.running ? 'off' : '(not running)')}`,
    `bridge    ${s.bridgeUrl}`,
    `region    ${s.region}`,
    `capacity  ${f.capacity}`,
    `used      ${f.used}${f.usedPercent ? ` (${f.usedPercent})` : ''}`,
    `shards    ${f.shards}`,
    `hours     ${s.schedule ? `${s.schedule} UTC` : 'always online'}`,
    `running   ${s.running ? `yes (pid ${s.pid})` : 'no'}`,
    `status    ${f.status}`,
  ]
  if (s.running) {
    lines.push(
      `uptime    ${f.uptime}`,
      `upload    ${f.upload} (${f.sent} sent since start)`,
      `download  ${f.download} (${f.received} received since start)`,
    )
  }
  const b = s.bridge
  if (b && f.earnings && f.trust) {
    const e = f.earnings
    lines.push(
      `earnings  week ${e.week} · month ${e.month} · year ${e.year} · all time ${e.allTime}`,
      `          ${b.earnings.storageGBHours.toFixed(3)} GB-hours stored, ${b.earnings.egressGB.toFixed(3)} GB served`,
      `trust     ${f.trust}`,
      `at bridge ${b.shards} shards, ${formatBytes(b.storedBytes)}`,
    )
  } else {
    lines.push(`earnings  ${f.bridgeProblem}`)
  }
  return lines
}

/** What page.ts inlines into the browser, by name: statusFigures and the helpers it calls. */
export const FIGURE_FUNCTIONS = { formatBytes, formatDuration, formatRate, formatMoney, statusFigures }

export function settingsLines(s: HostSettings): string[] {
  return [
    `capacity           ${formatBytes(s.capacity)} (${s.capacity} bytes)`,
    `hours              ${s.schedule ? `${s.schedule} UTC` : 'always online'}`,
    `max upload rate    ${formatRate(s.maxUploadRate)}`,
    `max download rate  ${formatRate(s.maxDownloadRate)}`,
    `region             ${s.region}`,
    `listen             ${s.listen}`,
    `bridge             ${s.bridge}`,
  ]
}

/** One progress line while the bridge drains this host. */
export function exitProgressLine(s: HostSelf): string {
  return s.state === 'exiting'
    ? `exiting: ${s.shards} shard(s) (${formatBytes(s.storedBytes)}) still held here; the bridge is moving them to other hosts`
    : `state: ${s.state}`
}

/** The last line of `xcore exit`: done, or (with --no-wait) started. */
export function exitResultLine(s: HostSelf, dataDir: string): string {
  return s.state === 'exited'
    ? `exited: the bridge no longer needs anything on this host. Stop the service; the data folder ${dataDir} can now be removed.`
    : `exit started: the bridge is moving ${s.shards} shard(s) to other hosts; keep \`xcore serve\` running and follow it with \`xcore exit --data ${dataDir}\` or \`xcore status\``
}
