/** Human lines for `xcore status`, `xcore config` and `xcore exit` (the CLI prints them; --json prints the data). */
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
const money = (n: number, currency: string): string =>
  `${n === 0 || n >= 0.01 ? n.toFixed(2) : n.toPrecision(4).replace(/0+$/, '')} ${currency}`

export function statusLines(s: HostStatus): string[] {
  const pct = s.capacity > 0 ? ` (${((100 * s.used) / s.capacity).toFixed(1)}%)` : ''
  const lines = [
    `host      ${s.hostId}`,
    `url       ${s.url ?? '(not running)'}`,
    `bridge    ${s.bridgeUrl}`,
    `region    ${s.region}`,
    `capacity  ${formatBytes(s.capacity)}`,
    `used      ${formatBytes(s.used)}${pct}`,
    `shards    ${s.shards}`,
    `hours     ${s.schedule ? `${s.schedule} UTC` : 'always online'}`,
    `running   ${s.running ? `yes (pid ${s.pid})` : 'no'}`,
    `status    ${s.status}`,
  ]
  if (s.running) {
    lines.push(
      `uptime    ${formatDuration(s.uptimeMs ?? 0)}`,
      `upload    ${formatRate(s.uploadBps)} (${formatBytes(s.bytesOut)} sent since start)`,
      `download  ${formatRate(s.downloadBps)} (${formatBytes(s.bytesIn)} received since start)`,
    )
  }
  const b = s.bridge
  if (b) {
    const e = b.earnings
    lines.push(
      `earnings  week ${money(e.week, e.currency)} · month ${money(e.month, e.currency)} · year ${money(e.year, e.currency)} · all time ${money(e.allTime, e.currency)}`,
      `          ${e.storageGBHours.toFixed(3)} GB-hours stored, ${e.egressGB.toFixed(3)} GB served`,
      `trust     reputation ${b.reputation.toFixed(2)} (audits: ${b.auditsPassed} passed, ${b.auditsFailed} failed)`,
      `at bridge ${b.shards} shards, ${formatBytes(b.storedBytes)}`,
    )
  } else {
    lines.push(`earnings  bridge unreachable (${s.bridgeError?.code ?? 'XC_UNAVAILABLE'})`)
  }
  return lines
}

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
