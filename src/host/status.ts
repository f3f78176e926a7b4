/** `xcore status`: what a host folder holds, read from disk (works whether or not it is running). */
import { readFile } from 'node:fs/promises'
import { hostIdOf } from '../shared/tokens.js'
import { hostPaths, loadConfig } from './config.js'
import { scanShards } from './storage/shard-store.js'

export interface HostStatus {
  hostId: string
  /** URL of the running server, or null when it is not running. */
  url: string | null
  bridge: string
  region: string
  capacity: number
  used: number
  shards: number
}

export async function readHostStatus(dataDir: string): Promise<HostStatus> {
  const paths = hostPaths(dataDir)
  const config = await loadConfig(dataDir)
  const url = await readFile(paths.url, 'utf8').then((s) => s.trim() || null, () => null)
  const { used, count } = await scanShards(paths.shards)
  return { hostId: hostIdOf(config.publicKey), url, bridge: config.bridge, region: config.region, capacity: config.capacity, used, shards: count }
}
