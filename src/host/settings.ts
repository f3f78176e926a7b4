/**
 * `xcore config`: the owner changes what a host offers (capacity, online hours, bandwidth limits)
 * without stopping it. The change is decided by a pure function, then config.json is replaced
 * atomically (config.ts writeConfig); a running `xcore serve` notices the new file
 * (live-config.ts), applies it and re-announces, so the bridge learns it at once.
 * Identity and addressing (keys, bridge, listen) are not settings: changing them is a new host.
 */
import { xerr } from '../shared/errors.js'
import { hostPaths, loadConfig, normalizeSchedule, validateConfig, writeConfig, type HostConfig } from './config.js'
import { scanShards } from './storage/shard-store.js'

/** Fields to change; absent = keep. null lifts a limit or the schedule. */
export interface SettingsChange {
  capacity?: number
  schedule?: string | null
  maxUploadRate?: number | null
  maxDownloadRate?: number | null
}

/** What `xcore config` prints: the settings an owner may change, plus where the host is. */
export interface HostSettings {
  capacity: number
  schedule: string | null
  maxUploadRate: number | null
  maxDownloadRate: number | null
  region: string
  listen: string
  bridge: string
}

export function settingsOf(c: HostConfig): HostSettings {
  return {
    capacity: c.capacity,
    schedule: c.schedule ?? null,
    maxUploadRate: c.maxUploadRate,
    maxDownloadRate: c.maxDownloadRate,
    region: c.region,
    listen: c.listen,
    bridge: c.bridge,
  }
}

/** The config with the change applied; XC_USAGE for a value the owner got wrong. */
export function applySettings(config: HostConfig, change: SettingsChange): HostConfig {
  const next: HostConfig = { ...config }
  if (change.capacity !== undefined) {
    if (!Number.isSafeInteger(change.capacity) || change.capacity < 0) throw xerr('XC_USAGE', 'capacity must be a whole number of bytes')
    next.capacity = change.capacity
  }
  for (const k of ['maxUploadRate', 'maxDownloadRate'] as const) {
    const v = change[k]
    if (v === undefined) continue
    if (v !== null && !(Number.isSafeInteger(v) && v > 0)) throw xerr('XC_USAGE', `${k} must be a positive number of bytes per second, or none`)
    next[k] = v
  }
  if (change.schedule !== undefined) next.schedule = change.schedule === null ? null : normalizeSchedule(change.schedule)
  return validateConfig(next)
}

export interface UpdateResult {
  settings: HostSettings
  /** Whether config.json was rewritten (false when nothing was asked to change). */
  changed: boolean
  /** Bytes of shards already stored, when the new capacity is below it (they stay; nothing new fits). */
  overCapacityBy: number | null
}

export async function updateSettings(dataDir: string, change: SettingsChange): Promise<UpdateResult> {
  const current = await loadConfig(dataDir)
  const asked = Object.values(change).some((v) => v !== undefined)
  const next = asked ? applySettings(current, change) : current
  if (asked) await writeConfig(dataDir, next)
  let overCapacityBy: number | null = null
  if (change.capacity !== undefined) {
    // The folder is the truth (a running host's status.json may be two seconds old).
    const { used } = await scanShards(hostPaths(dataDir).shards)
    if (used > next.capacity) overCapacityBy = used - next.capacity
  }
  return { settings: settingsOf(next), changed: asked, overCapacityBy }
}
