/** `xcloud status` and `xcloud tree`: read what the daemon publishes, or the local state itself. */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { XError } from '../../shared/errors.js'
import { formatBytes } from '../../shared/units.js'
import { LocalState, ROOT_INO, readOpCounts, type LocalNode } from '../state/local-state.js'
import { runningDaemon, type DaemonStatus } from './daemon.js'

export interface HomeStatus {
  running: boolean
  mountpoint: string | null
  pendingOps: number
  pendingUploads: number
  uploading: DaemonStatus['sync']['uploading']
  openFiles: number
  cache: DaemonStatus['cache']
  tree: DaemonStatus['tree']
  lastPull: number | null
  lastError: string | null
  synced: boolean
  shardsUploaded: number
  shardsReused: number
  shardsFetched: number
  /** getattrs the mount's native attribute cache answered and those that reached the daemon. */
  attrCache: DaemonStatus['attrCache']
  /** Writes answered on libfuse's threads (new files' bytes straight into staging). */
  nativeWrites: number | null
  /** Reads answered on libfuse's threads (straight from shards in memory). */
  nativeReads: number | null
  /** The running daemon's memory; null when no daemon runs. */
  memory: DaemonStatus['memory'] | null
}

function openState(home: string): LocalState {
  const file = path.join(home, 'state.db')
  if (!existsSync(file)) throw new XError('XC_USAGE', `no drive state in ${home}: run \`xcloud mount\` first`)
  return new LocalState(file)
}

export async function homeStatus(home: string): Promise<HomeStatus> {
  const daemon = runningDaemon(home)
  if (daemon) {
    try {
      const s = JSON.parse(readFileSync(path.join(home, 'status.json'), 'utf8')) as DaemonStatus
      // Pending changes from the journal itself: status.json is written each second, and a file
      // closed since then must not read as synced.
      let pending = { ops: s.sync.pendingOps, uploads: s.sync.pendingUploads }
      try { pending = readOpCounts(path.join(home, 'state.db')) } catch { /* the daemon's snapshot */ }
      return {
        running: true, mountpoint: s.mountpoint, pendingOps: pending.ops, pendingUploads: pending.uploads,
        uploading: s.sync.uploading, openFiles: s.openFiles, cache: s.cache, tree: s.tree, lastPull: s.sync.lastPull,
        lastError: s.sync.lastError, synced: pending.ops === 0 && s.sync.lastError === null,
        shardsUploaded: s.sync.shardsUploaded, shardsReused: s.sync.shardsReused, shardsFetched: s.shardsFetched,
        attrCache: s.attrCache ?? null,
        nativeWrites: s.nativeWrites ?? null,
        nativeReads: s.nativeReads ?? null,
        memory: s.memory ?? null,
      }
    } catch { /* fall through to the state file */ }
  }
  const state = openState(home)
  try {
    const c = state.opCounts()
    const t = state.stats()
    return {
      running: false, mountpoint: null, pendingOps: c.ops, pendingUploads: c.uploads, uploading: null, openFiles: 0,
      cache: { memoryBytes: 0, stagedFiles: t.staged }, tree: { files: t.files, dirs: t.dirs, bytes: t.bytes },
      lastPull: null, lastError: null, synced: c.ops === 0, shardsUploaded: 0, shardsReused: 0, shardsFetched: 0,
      attrCache: null,
      nativeWrites: null,
      nativeReads: null,
      memory: null,
    }
  } finally {
    state.close()
  }
}

export function formatStatus(s: HomeStatus): string {
  const lines = [
    s.running ? `mounted at ${s.mountpoint}` : 'not mounted',
    `sync: ${s.synced ? 'up to date' : `${s.pendingOps} changes pending (${s.pendingUploads} uploads)`}${s.lastError ? `, last error ${s.lastError}` : ''}`,
    s.uploading ? `uploading ${s.uploading.path}: ${formatBytes(s.uploading.done)} of ${formatBytes(s.uploading.bytes)}` : 'no transfer in flight',
    `open files: ${s.openFiles}`,
    `cache: ${formatBytes(s.cache.memoryBytes)} in memory, ${s.cache.stagedFiles} files staged on disk`,
    ...(s.memory ? [`memory: ${formatBytes(s.memory.rss)} resident (JavaScript heap ${formatBytes(s.memory.heapUsed)}, buffers ${formatBytes(s.memory.arrayBuffers)})`] : []),
    ...(s.attrCache ? [`attribute cache: ${s.attrCache.hits} hits, ${s.attrCache.misses} misses, ${s.attrCache.entries} entries`] : []),
    ...(s.nativeWrites !== null ? [`writes straight to staging: ${s.nativeWrites}`] : []),
    ...(s.nativeReads !== null ? [`reads straight from memory: ${s.nativeReads}`] : []),
    `drive: ${s.tree.files} files, ${s.tree.dirs} folders, ${formatBytes(s.tree.bytes)}`,
  ]
  return lines.join('\n') + '\n'
}

export interface TreeEntry {
  name: string
  type: 'dir' | 'file' | 'symlink'
  size: number
  mtime: string
  mode: string
  version: string | null
  target?: string
  pending: boolean
  children?: TreeEntry[]
}

export async function localTree(home: string, p: string): Promise<TreeEntry> {
  const state = openState(home)
  try {
    let node = state.must(ROOT_INO)
    for (const name of p.split('/').filter(Boolean)) {
      const next = node.kind === 'dir' ? state.child(node.ino, name) : undefined
      if (!next) throw new XError('XC_NOT_FOUND', `${p}: no such file or directory`)
      node = next
    }
    const entry = (n: LocalNode): TreeEntry => {
      const e: TreeEntry = {
        name: n.ino === ROOT_INO ? '/' : n.name, type: n.kind, size: n.kind === 'file' ? n.size : 0,
        mtime: new Date(n.mtime).toISOString(), mode: (n.mode & 0o7777).toString(8).padStart(4, '0'), version: n.versionId,
        pending: n.dirty || state.hasPendingOps(n.ino),
      }
      if (n.kind === 'symlink') e.target = n.target ?? ''
      if (n.kind === 'dir') e.children = state.children(n.ino).map(entry)
      return e
    }
    return entry(node)
  } finally {
    state.close()
  }
}
