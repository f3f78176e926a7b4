/**
 * A running host following its config.json. `xcore config` replaces the file atomically; the
 * server notices through fs.watch on the data folder (the file's inode changes with every rename,
 * so the folder is watched, not the file) and, as a fallback for file systems without reliable
 * change events, re-reads it before each heartbeat.
 *
 * Invariants: a file that does not load or validate changes nothing (the host keeps serving with
 * what it has, and says so in the log); only the owner's settings are applied live (capacity,
 * online hours, bandwidth limits, region); a change of identity or address (keys, bridge,
 * listen) is logged as needing a restart. `onChange` runs once per effective change, in order.
 */
import { watch, type FSWatcher } from 'node:fs'
import type { Logger } from 'pino'
import { loadConfig, type HostConfig } from './config.js'

const LIVE_FIELDS = ['capacity', 'schedule', 'maxUploadRate', 'maxDownloadRate', 'region'] as const
const RESTART_FIELDS = ['bridge', 'listen', 'bridgePublicKey', 'publicKey', 'privateKey'] as const

/** Which live settings differ, and which fields that need a restart differ (pure). */
export function diffConfig(prev: HostConfig, next: HostConfig): { live: string[]; restart: string[] } {
  return {
    live: LIVE_FIELDS.filter((k) => (prev[k] ?? null) !== (next[k] ?? null)),
    restart: RESTART_FIELDS.filter((k) => prev[k] !== next[k]),
  }
}

export interface LiveConfigOptions {
  dataDir: string
  initial: HostConfig
  onChange: (next: HostConfig, changed: string[]) => void
  log: Pick<Logger, 'info' | 'warn'>
}

export class LiveConfig {
  private config: HostConfig
  private watcher: FSWatcher | null = null
  private debounce: NodeJS.Timeout | undefined
  /** Reloads run one after another, so changes apply in the order the file took them. */
  private queue: Promise<void> = Promise.resolve()
  private lastError: string | null = null
  private restartWarned = new Set<string>()

  constructor(private readonly opts: LiveConfigOptions) {
    this.config = opts.initial
  }

  get current(): HostConfig {
    return this.config
  }

  /** Watch the data folder; without fs.watch the heartbeat's reload() still catches changes. */
  start(): void {
    try {
      this.watcher = watch(this.opts.dataDir, { persistent: false }, (_event, name) => {
        if (name !== null && name !== 'config.json') return
        clearTimeout(this.debounce)
        // A rename shows up as several events; one reload after they settle is enough.
        this.debounce = setTimeout(() => void this.reload(), 50)
      })
      this.watcher.on('error', (err) => {
        this.opts.log.warn({ err: String(err) }, 'watching config.json failed; changes apply at the next heartbeat')
        this.watcher?.close()
        this.watcher = null
      })
    } catch (err) {
      this.opts.log.warn({ err: String(err) }, 'cannot watch config.json; changes apply at the next heartbeat')
    }
  }

  stop(): void {
    clearTimeout(this.debounce)
    this.watcher?.close()
    this.watcher = null
  }

  /** Re-read config.json and apply what changed. Never throws. */
  reload(): Promise<void> {
    this.queue = this.queue.then(() => this.reloadNow()).catch(() => {})
    return this.queue
  }

  private async reloadNow(): Promise<void> {
    let next: HostConfig
    try {
      next = await loadConfig(this.opts.dataDir)
    } catch (err) {
      const why = String(err)
      // Say it once per distinct problem, not on every heartbeat.
      if (why !== this.lastError) this.opts.log.warn({ err: why }, 'config.json does not load; keeping the running settings')
      this.lastError = why
      return
    }
    this.lastError = null
    const { live, restart } = diffConfig(this.config, next)
    for (const k of restart) {
      if (this.restartWarned.has(k)) continue
      this.restartWarned.add(k)
      this.opts.log.warn({ field: k }, 'config.json changed a field that takes effect only after a restart')
    }
    if (live.length === 0) return
    // Keep identity fields as they were at start: those are what this process runs with.
    this.config = { ...this.config, ...Object.fromEntries(LIVE_FIELDS.map((k) => [k, next[k] ?? null])) }
    this.opts.log.info({ changed: live }, 'settings changed')
    this.opts.onChange(this.config, live)
  }
}
