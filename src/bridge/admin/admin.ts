/**
 * The operator's view of a bridge's data folder: add accounts, list hosts and shards, count
 * things. Works on the same database while `xbridge serve` runs (SQLite WAL).
 */
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { xerr } from '../../shared/errors.js'
import { defaultKdfParams, derivePasswordKeys, generateMasterKey, masterKeyToPhrase, wrapKey } from '../../shared/crypto/index.js'
import { createAccount } from '../auth/accounts.js'
import { isOnline, reputationOf } from '../hosts/health.js'
import type { ShardSummary } from '../shards/store.js'
import { openSqliteStore, type BridgeStore } from '../store/sqlite/index.js'
import type { NetworkStats } from './store.js'

/** The master key is wrapped under this associated data, exactly as client registration does. */
export const MASTER_KEY_AAD = 'xc-mk-v1'

export function openAdminStore(dataDir: string): BridgeStore {
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) throw xerr('XC_CONFIG', `no bridge data folder at ${dataDir}`)
  return openSqliteStore(join(dataDir, 'bridge.db'))
}

/** Create an account as a client's registration would; the recovery phrase is returned once. */
export async function addUser(store: BridgeStore, email: string, password: string, kdfN?: number): Promise<{ userId: string; phrase: string }> {
  if (password.length === 0) throw xerr('XC_USAGE', 'the password is empty')
  const mk = generateMasterKey()
  const kdf = defaultKdfParams(kdfN === undefined ? undefined : { N: kdfN })
  const { authKey, wrappingKey } = await derivePasswordKeys(password, kdf)
  const wrappedMasterKey = wrapKey(wrappingKey, mk, MASTER_KEY_AAD)
  const userId = await createAccount(store, { email, authKey, kdf, wrappedMasterKey }, Date.now())
  return { userId, phrase: masterKeyToPhrase(mk) }
}

export interface HostRow {
  id: string
  url: string
  region: string
  capacity: number
  used: number
  free: number
  online: boolean
  lastHeartbeat: number
  failures: number
  reputation: number
  /** Mirrors the bridge recorded on this host. */
  shards: number
  createdAt: number
}

export function listHosts(store: BridgeStore, now: number, offlineAfterMs: number): HostRow[] {
  const counts = store.mirrorCounts()
  return store.allHosts().map((h) => ({
    id: h.id, url: h.url, region: h.region, capacity: h.capacity, used: h.used, free: Math.max(0, h.capacity - h.used),
    online: isOnline(h, now, offlineAfterMs), lastHeartbeat: h.lastSeen, failures: h.failures,
    reputation: reputationOf(h.successes, h.failures), shards: counts.get(h.id) ?? 0, createdAt: h.createdAt,
  }))
}

export function listShards(store: BridgeStore): ShardSummary[] {
  return store.listShards()
}

export function networkStats(store: BridgeStore, now: number, offlineAfterMs: number): NetworkStats {
  return store.stats(now - offlineAfterMs)
}
