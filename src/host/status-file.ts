/**
 * DATA/status.json: what a running host reports about itself, for `xcore status` and any local
 * dashboard. Rewritten every 2 s by temp file + rename, so a reader sees a whole file or the
 * previous one. Speeds are from the host owner's point of view: upload = bytes the host SENT
 * (serving shards), download = bytes it RECEIVED (storing shards), each over the last interval.
 * History keeps one cumulative sample per minute for at most 24 h (≤ 1440 entries, bounded), and
 * the file adds the latest sample after them. Removed when the host stops, like the url file.
 */
import { randomBytes } from 'node:crypto'
import { rename, rm, writeFile } from 'node:fs/promises'
import type { HostState } from '../shared/protocol.js'

export const STATUS_INTERVAL_MS = 2000
const SAMPLE_EVERY_MS = 60_000
const HISTORY_MS = 24 * 3600_000

export interface TrafficSample {
  /** Unix ms. */
  at: number
  /** Cumulative since the host started. */
  bytesIn: number
  bytesOut: number
}

export interface HostStatusFile {
  pid: number
  hostId: string
  url: string
  /** Unix ms. */
  startedAt: number
  uptimeMs: number
  /** The last state the bridge reported, or null before it answered. */
  state: HostState | null
  bytesIn: number
  bytesOut: number
  /** Bytes per second the host sent over the last interval. */
  uploadBps: number
  /** Bytes per second the host received over the last interval. */
  downloadBps: number
  capacity: number
  used: number
  shards: number
  history: TrafficSample[]
}

/** The kept history after sample `s`: a new entry once a minute, none older than 24 h (pure). */
export function nextHistory(history: readonly TrafficSample[], s: TrafficSample): TrafficSample[] {
  const last = history.at(-1)
  const kept = history.filter((h) => s.at - h.at <= HISTORY_MS)
  if (!last || s.at - last.at >= SAMPLE_EVERY_MS) kept.push(s)
  return kept
}

/** Bytes per second between two cumulative samples (pure; 0 for no time or a counter reset). */
export function rateBetween(prev: TrafficSample, cur: TrafficSample): { uploadBps: number; downloadBps: number } {
  const secs = (cur.at - prev.at) / 1000
  if (!(secs > 0)) return { uploadBps: 0, downloadBps: 0 }
  return {
    uploadBps: Math.max(0, Math.round((cur.bytesOut - prev.bytesOut) / secs)),
    downloadBps: Math.max(0, Math.round((cur.bytesIn - prev.bytesIn) / secs)),
  }
}

export interface StatusSource {
  hostId: string
  url: string
  startedAt: number
  state: () => HostState | null
  traffic: () => { bytesIn: number; bytesOut: number }
  store: () => { capacity: number; used: number; shards: number }
}

export interface StatusWriter {
  /** Stop writing and remove the file. */
  stop(): Promise<void>
}

/** Starts writing; resolves once the first file is in place, so `xcore status` sees it right away. */
export async function startStatusWriter(path: string, src: StatusSource, onError: (err: unknown) => void, intervalMs = STATUS_INTERVAL_MS): Promise<StatusWriter> {
  let history: TrafficSample[] = []
  let prev: TrafficSample = { at: src.startedAt, bytesIn: 0, bytesOut: 0 }
  let writing: Promise<void> = Promise.resolve()
  let stopped = false

  const snapshot = (): HostStatusFile => {
    const now = Date.now()
    const cur: TrafficSample = { at: now, ...src.traffic() }
    const rates = rateBetween(prev, cur)
    prev = cur
    history = nextHistory(history, cur)
    const { capacity, used, shards } = src.store()
    return {
      pid: process.pid, hostId: src.hostId, url: src.url, startedAt: src.startedAt, uptimeMs: now - src.startedAt,
      state: src.state(), bytesIn: cur.bytesIn, bytesOut: cur.bytesOut, ...rates, capacity, used, shards,
      history: history.at(-1) === cur ? history : [...history, cur],
    }
  }

  const write = async (): Promise<void> => {
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
    try {
      await writeFile(tmp, JSON.stringify(snapshot()) + '\n', { mode: 0o644 })
      // A write that finishes after stop() must not bring the file back.
      if (stopped) await rm(tmp, { force: true })
      else await rename(tmp, path)
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {})
      onError(err)
    }
  }

  const tick = (): void => {
    writing = writing.then(write)
  }
  tick()
  await writing
  const timer = setInterval(tick, intervalMs)
  timer.unref()
  return {
    stop: async () => {
      stopped = true
      clearInterval(timer)
      await writing
      await rm(path, { force: true }).catch(() => {})
    },
  }
}
