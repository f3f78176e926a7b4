/**
 * The mount daemon: local state + staging + VFS + sync engine behind a FUSE mount, for one home.
 *
 * Lifecycle: open the state (HOME/state.db, bound to the account that created it), queue uploads a
 * killed daemon left unfinished, pull the bridge's tree, mount, then serve until SIGINT/SIGTERM or
 * `stop()`. Stopping pushes what it can within a grace period, then unmounts; whatever is still
 * queued stays in the journal and resumes at the next mount. HOME/daemon.json names the running
 * daemon (pid, mount point) and HOME/status.json is refreshed every second for `xcloud status`.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { XError } from '../../shared/errors.js'
import { DEFAULT_MIRRORS } from '../../shared/protocol.js'
import { XCloudClient } from '../client.js'
import { createMount, type XFuse } from '../fuse/adapter.js'
import { attrCache, fastReads, fastWrites, mapLargeAllocations } from '../fuse/attr-cache.js'
import { LocalState } from '../state/local-state.js'
import { SyncEngine, type SyncStatus } from '../sync/engine.js'
import { RemoteContent } from '../vfs/remote-content.js'
import { Staging } from '../vfs/staging.js'
import { Vfs } from '../vfs/vfs.js'

export interface DaemonOptions {
  home: string
  mountpoint: string
  /** Plaintext shards kept in memory for reads (2 MiB each). */
  cacheShards?: number
  /** How long stop() may spend pushing pending work before unmounting. */
  drainMs?: number
  /** How long a change waits in the journal before it is pushed. */
  writeBackDelayMs?: number
  /** Native attribute cache on the mount (see fuse/attr-cache.ts); on unless false. */
  attrCache?: boolean
  log?: (msg: string, err?: unknown) => void
}

export interface DaemonStatus {
  pid: number
  mountpoint: string
  startedAt: number
  sync: SyncStatus
  openFiles: number
  cache: { memoryBytes: number; stagedFiles: number }
  /** Shards fetched from hosts for reads (cache misses). */
  shardsFetched: number
  /** The daemon's memory (bytes): resident set, V8 heap in use, Buffers and other memory outside it. */
  memory: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number }
  /** getattrs answered by the native attribute cache and those that went to the daemon; null without it. */
  attrCache: { hits: number; misses: number; entries: number } | null
  /** Writes libfuse's threads put into staging files themselves; null without them. */
  nativeWrites: number | null
  /** Reads libfuse's threads answered from shards in memory themselves; null without them. */
  nativeReads: number | null
  tree: { files: number; dirs: number; bytes: number }
  updatedAt: number
}

export class Daemon {
  private fuse: XFuse | null = null
  private statusTimer: NodeJS.Timeout | undefined
  private capacityTimer: NodeJS.Timeout | undefined
  private capacity = { total: 0, used: 0 }
  private readonly startedAt = Date.now()
  private stopping: Promise<void> | null = null

  private constructor(
    readonly opts: DaemonOptions,
    readonly client: XCloudClient,
    readonly state: LocalState,
    readonly vfs: Vfs,
    readonly engine: SyncEngine,
    private readonly remote: RemoteContent,
    private readonly staging: Staging,
  ) {}

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const mountpoint = path.resolve(opts.mountpoint)
    // Before the data path allocates: freed shard buffers go back to the system (attr-cache.ts).
    mapLargeAllocations()
    const client = await XCloudClient.fromHome(opts.home)
    const state = new LocalState(path.join(opts.home, 'state.db'))
    try {
      const owner = state.getKv('userId')
      if (owner && owner !== client.credentials.userId) {
        throw new XError('XC_CONFIG', `${path.join(opts.home, 'state.db')} belongs to another account; use another --home`)
      }
      state.setKv('userId', client.credentials.userId)
    } catch (err) {
      state.close()
      client.close()
      throw err
    }
    const staging = new Staging(path.join(opts.home, 'staging'))
    const remote = new RemoteContent(client.bridge, client.keys.fileWrapKey, { cacheShards: opts.cacheShards })
    let daemon: Daemon | undefined
    const vfs = new Vfs(state, staging, remote, {
      contentClosed: (ino) => { if (state.enqueueUpload(ino)) daemon?.engine.kick(200) },
      journalChanged: () => daemon?.engine.kick(50),
      capacity: () => daemon?.capacity ?? { total: 0, used: 0 },
    })
    const engine = new SyncEngine(client.bridge, client.tree, client.keys.fileWrapKey, state, vfs, staging, remote, { log: opts.log, writeBackDelayMs: opts.writeBackDelayMs })
    daemon = new Daemon({ ...opts, mountpoint }, client, state, vfs, engine, remote, staging)
    await daemon.run()
    return daemon
  }

  private async run(): Promise<void> {
    // A daemon killed mid-write: a staged file's length is its size (the row may lag behind the
    // last writes), and changed files may lack a queued upload. Settle both before serving.
    for (const n of this.state.stagedNodes()) {
      const size = this.staging.sizeIfAny(n.ino)
      if (size === null) this.state.update(n.ino, { staged: false })
      else if (size !== n.size) this.state.update(n.ino, { size })
    }
    for (const ino of this.state.dirtyWithoutUpload()) this.state.enqueueUpload(ino)
    try {
      await this.engine.pull()
    } catch (err) {
      this.opts.log?.('could not reach the bridge; serving the local copy of the tree', err)
    }
    await this.refreshCapacity()
    this.capacityTimer = setInterval(() => { void this.refreshCapacity() }, 10_000)
    this.capacityTimer.unref()
    const fuse = createMount(this.opts.mountpoint, this.vfs, { attrCache: this.opts.attrCache })
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(new XError('XC_MOUNT', `cannot mount ${this.opts.mountpoint}: ${err.message}`)) : resolve())))
    this.fuse = fuse
    writeFileSync(path.join(this.opts.home, 'daemon.json'), JSON.stringify({ pid: process.pid, mountpoint: this.opts.mountpoint, startedAt: this.startedAt }) + '\n', { mode: 0o600 })
    this.writeStatus()
    this.statusTimer = setInterval(() => this.writeStatus(), 1000)
    this.statusTimer.unref()
    this.engine.start()
  }

  private async refreshCapacity(): Promise<void> {
    try {
      const a = await this.client.bridge.account()
      // Every byte is stored DEFAULT_MIRRORS times: the free space a user can still fill is the
      // network's free space divided by that.
      this.capacity = { total: a.usedBytes + Math.floor(a.networkFree / DEFAULT_MIRRORS), used: a.usedBytes }
    } catch { /* keep the last figures */ }
  }

  status(): DaemonStatus {
    const tree = this.state.stats()
    return {
      pid: process.pid,
      mountpoint: this.opts.mountpoint,
      startedAt: this.startedAt,
      sync: this.engine.status(),
      openFiles: this.vfs.openHandles,
      cache: { memoryBytes: this.remote.cachedBytes, stagedFiles: tree.staged },
      shardsFetched: this.remote.fetched,
      memory: (({ rss, heapTotal, heapUsed, external, arrayBuffers }) => ({ rss, heapTotal, heapUsed, external, arrayBuffers }))(process.memoryUsage()),
      attrCache: this.opts.attrCache === false ? null : attrCache?.stats() ?? null,
      nativeWrites: fastWrites?.count() ?? null,
      nativeReads: fastReads?.count() ?? null,
      tree: { files: tree.files, dirs: tree.dirs, bytes: tree.bytes },
      updatedAt: Date.now(),
    }
  }

  private writeStatus(): void {
    const file = path.join(this.opts.home, 'status.json')
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(this.status()) + '\n', { mode: 0o600 })
      renameSync(`${file}.tmp`, file)
    } catch { /* status is best effort */ }
  }

  /** Push pending work for up to drainMs, unmount, close. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const drained = await this.engine.drain(this.opts.drainMs ?? 30_000)
      if (!drained) this.opts.log?.(`stopping with ${this.state.opCounts().ops} changes still queued; they resume at the next mount`)
      await this.engine.stop()
      clearInterval(this.statusTimer)
      clearInterval(this.capacityTimer)
      if (this.fuse) {
        const fuse = this.fuse
        this.fuse = null
        await new Promise<void>((resolve) => fuse.unmount((err) => {
          if (err) this.opts.log?.(`unmount of ${this.opts.mountpoint} failed`, err)
          resolve()
        }))
      }
      // Unmounted: no native read is left to use the shards announced for it.
      this.remote.memory = null
      this.writeStatus()
      rmSync(path.join(this.opts.home, 'daemon.json'), { force: true })
      this.staging.close()
      this.state.close()
      this.client.close()
    })()
    return this.stopping
  }
}

/** The running daemon of a home, if its process is alive. */
export function runningDaemon(home: string): { pid: number; mountpoint: string } | null {
  const file = path.join(home, 'daemon.json')
  if (!existsSync(file)) return null
  try {
    const d = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; mountpoint: string }
    if (!Number.isInteger(d.pid) || typeof d.mountpoint !== 'string') return null
    // A pid only counts while it is a live xcloud process (a killed daemon may linger a moment,
    // and its pid may be reused later).
    const stat = readFileSync(`/proc/${d.pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    if (state === 'Z' || state === 'X') return null
    if (!readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').includes('xcloud')) return null
    return d
  } catch {
    return null
  }
}
