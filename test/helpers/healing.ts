/**
 * Helpers for the self-healing tests: a network whose chores run in fractions of a second, files
 * with known contents, and checks against the bridge's view (`xbridge admin … --json`).
 */
import path from 'node:path'
import type { Test } from 'tap'
import type { LocalNet, LocalNetOptions } from '../../src/localnet/localnet.js'
import { newUser, randomFile, sha256File, startNetwork, workdir, type User } from './network.js'

export const HEARTBEAT_MS = 250

/** Timings as short config values: offline after 1.5 s, repair and audits every 300 ms. */
export function fastNetwork(t: Test, hosts: number, extra: Partial<LocalNetOptions> & { bridgeFlags?: string[] } = {}): Promise<LocalNet> {
  const { bridgeFlags = [], ...rest } = extra
  return startNetwork(t, {
    hosts,
    bridgeArgs: ['--offline-after', '1500ms', '--repair-interval', '300ms', '--audit-interval', '1h', '--gc-grace', '1h', ...bridgeFlags],
    hostArgs: ['--heartbeat', `${HEARTBEAT_MS}ms`],
    ...rest,
  })
}

export async function until<T>(fn: () => Promise<T | false | undefined> | T | false | undefined, ms: number, what: string): Promise<T> {
  const start = Date.now()
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 150))
  }
}

export interface MirrorRow { hostId: string; storedAt: number }
export interface ShardRow { hash: string; size: number; target: number; hosts: string[]; mirrors: MirrorRow[] }
export interface HostRow {
  id: string; state: string; online: boolean; reputation: number; auditsPassed: number; auditsFailed: number; shards: number
  approved: boolean; banned: boolean; region: string
}

export const shardsOf = (net: LocalNet) => net.admin<ShardRow[]>('shards', 'list')
export const hostsOf = (net: LocalNet) => net.admin<HostRow[]>('hosts', 'list')

export interface StoredFile { remote: string; sha: string; size: number }

/** Put files of these sizes (random bytes) as /f0, /f1, …; returns what they should read back as. */
export async function putFiles(t: Test, user: User, sizes: readonly number[], prefix = 'f'): Promise<StoredFile[]> {
  const dir = workdir(t)
  const out: StoredFile[] = []
  for (const [i, size] of sizes.entries()) {
    const local = path.join(dir, `${prefix}${i}.bin`)
    const sha = await randomFile(local, size)
    const remote = `/${prefix}${i}.bin`
    await user.ok('put', local, remote)
    out.push({ remote, sha, size })
  }
  return out
}

/** Read every file back through a client; true when all are byte-identical. */
export async function readsBack(t: Test, user: User, files: readonly StoredFile[]): Promise<boolean> {
  const dir = workdir(t)
  for (const f of files) {
    const local = path.join(dir, `back-${path.basename(f.remote)}-${Date.now()}`)
    const r = await user.xcloud('get', f.remote, local)
    if (r.code !== 0 || (await sha256File(local)) !== f.sha) return false
  }
  return true
}

/** Every shard has exactly `mirrors` mirrors, all on hosts in `live`. */
export function healthy(shards: readonly ShardRow[], live: ReadonlySet<string>, mirrors: number): boolean {
  return shards.length > 0 && shards.every((s) => new Set(s.hosts).size === mirrors && s.hosts.every((h) => live.has(h)))
}

export { newUser }
