/**
 * `xcore status`: the host's local dashboard. Three sources, each optional but the first:
 * - the data folder (config.json, shards on disk): what the host is and holds;
 * - status.json, written every 2 s by a running `xcore serve` (status-file.ts): whether it runs
 *   (its pid is alive), uptime, traffic and speeds, the last state the bridge reported;
 * - the bridge (host-signed POST /v1/hosts/self, 5 s at most): state, reputation, audits and
 *   earnings per week, month, year and all time.
 * A bridge that cannot be reached never fails the command: the local figures are shown with the
 * error's code (`bridge: null`, `bridgeError`).
 *
 * The running host's web dashboard (dashboard/) serves this same object; it passes its own
 * sources: the shard store's in-memory totals instead of a scan of shards/, and a cached bridge
 * answer so a page that polls does not turn into a query to the bridge per poll.
 */
import { readFile } from 'node:fs/promises'
import { toXError, type ErrorCode } from '../shared/errors.js'
import type { HostSelf, HostState } from '../shared/protocol.js'
import { hostIdOf } from '../shared/tokens.js'
import { fetchHostSelf } from './bridge/self.js'
import { hostPaths, loadConfig, type HostConfig } from './config.js'
import { readDashboardUrl } from './dashboard/url-file.js'
import type { HostStatusFile, TrafficSample } from './status-file.js'
import { scanShards } from './storage/shard-store.js'

export const BRIDGE_STATUS_TIMEOUT_MS = 5000

export interface HostStatus {
  hostId: string
  /** URL of the running server, or null when it is not running. */
  url: string | null
  /** URL of the running server's local web dashboard, or null when it is not running or off. */
  dashboardUrl: string | null
  /** The bridge's URL, from config.json. */
  bridgeUrl: string
  region: string
  capacity: number
  used: number
  shards: number
  /** Online hours (UTC), or null for always. */
  schedule: string | null
  running: boolean
  pid: number | null
  /** The bridge's word on this host (online, offline, suspended, exiting, exited) while it runs; else "not running". */
  status: HostState | 'unknown' | 'not running'
  uptimeMs: number | null
  /** Bytes per second the host sent (upload) and received (download) over the last few seconds. */
  uploadBps: number
  downloadBps: number
  /** Cumulative since the host started. */
  bytesIn: number
  bytesOut: number
  /** What the bridge says (earnings, reputation, audits), or null when it could not be asked. */
  bridge: HostSelf | null
  bridgeError: { code: ErrorCode; message: string } | null
  /**
   * Cumulative traffic samples of the running host, oldest first: one a minute for at most 24 h,
   * then the latest (status-file.ts); the dashboard's chart. Empty when it is not running. Last,
   * so the long list does not come between the figures in `--json`.
   */
  history: TrafficSample[]
}

/** The bridge's word on this host, or why there is none. */
export interface BridgeAnswer {
  self: HostSelf | null
  error: { code: ErrorCode; message: string } | null
}

/** Ask the bridge about this host; never throws: a failure is the answer's `error`. */
export function askBridge(config: HostConfig, timeoutMs = BRIDGE_STATUS_TIMEOUT_MS): Promise<BridgeAnswer> {
  return fetchHostSelf(config, AbortSignal.timeout(timeoutMs)).then(
    (self) => ({ self, error: null }),
    (err: unknown) => {
      const x = toXError(err)
      return { self: null, error: { code: x.code, message: x.message } }
    },
  )
}

export interface StatusSources {
  /** Give up on the bridge after this long (default 5 s); ignored when `bridge` is given. */
  bridgeTimeoutMs?: number
  /** The bridge's answer; default: ask it now (askBridge). */
  bridge?: (config: HostConfig) => Promise<BridgeAnswer>
  /** Shard bytes and count; default: scan shards/ on disk. */
  shards?: () => Promise<{ used: number; count: number }>
}

export async function readHostStatus(dataDir: string, opts: StatusSources = {}): Promise<HostStatus> {
  const paths = hostPaths(dataDir)
  const config = await loadConfig(dataDir)
  const [file, scan, remote] = await Promise.all([
    readStatusFile(paths.status),
    opts.shards ? opts.shards() : scanShards(paths.shards),
    opts.bridge ? opts.bridge(config) : askBridge(config, opts.bridgeTimeoutMs),
  ])
  const running = file !== null && pidAlive(file.pid)
  const live = running ? file : null
  return {
    hostId: hostIdOf(config.publicKey),
    url: live?.url ?? null,
    dashboardUrl: live ? await readDashboardUrl(dataDir) : null,
    bridgeUrl: config.bridge,
    region: config.region,
    capacity: config.capacity,
    used: scan.used,
    shards: scan.count,
    schedule: config.schedule ?? null,
    running,
    pid: live?.pid ?? null,
    status: !running ? 'not running' : remote.self?.state ?? live?.state ?? 'unknown',
    uptimeMs: live ? Math.max(0, Date.now() - live.startedAt) : null,
    uploadBps: live?.uploadBps ?? 0,
    downloadBps: live?.downloadBps ?? 0,
    bytesIn: live?.bytesIn ?? 0,
    bytesOut: live?.bytesOut ?? 0,
    bridge: remote.self,
    bridgeError: remote.error,
    history: live ? trafficSamples(live.history) : [],
  }
}

/** What the running `xcore serve` of this folder last wrote, or null when none is running. */
export async function runningHost(dataDir: string): Promise<HostStatusFile | null> {
  const file = await readStatusFile(hostPaths(dataDir).status)
  return file && pidAlive(file.pid) ? file : null
}

/** status.json if it is there and whole enough to use; anything else counts as absent. */
export async function readStatusFile(path: string): Promise<HostStatusFile | null> {
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(path, 'utf8'))
  } catch {
    return null
  }
  const s = raw as Partial<HostStatusFile> | null
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
  if (typeof s !== 'object' || s === null || !Number.isSafeInteger(s.pid) || (s.pid as number) <= 0 || typeof s.url !== 'string' || !num(s.startedAt)) return null
  if (![s.bytesIn, s.bytesOut, s.uploadBps, s.downloadBps].every(num)) return null
  return s as HostStatusFile
}

/** The well-formed samples of a status file's history (older files may have none). */
function trafficSamples(raw: unknown): TrafficSample[] {
  if (!Array.isArray(raw)) return []
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
  return raw
    .filter((h: Partial<TrafficSample> | null) => typeof h === 'object' && h !== null && num(h.at) && num(h.bytesIn) && num(h.bytesOut))
    .map((h: TrafficSample) => ({ at: h.at, bytesIn: h.bytesIn, bytesOut: h.bytesOut }))
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
