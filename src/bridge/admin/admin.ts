/**
 * The operator's view of a bridge's data folder: add accounts, list hosts and shards, the network
 * at a glance (stats.ts). Works on the same database while `xbridge serve` runs (SQLite WAL).
 */
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { xerr } from '../../shared/errors.js'
import { defaultKdfParams, derivePasswordKeys, generateMasterKey, masterKeyToPhrase, wrapKey } from '../../shared/crypto/index.js'
import { createAccount } from '../auth/accounts.js'
import type { AuditStore } from '../audit/store.js'
import type { HostState } from '../../shared/protocol.js'
import { earningsOf } from '../earnings/service.js'
import type { LedgerEntry } from '../earnings/store.js'
import type { Prices } from '../earnings/prices.js'
import { hostState, isOnline, reputationOf } from '../hosts/health.js'
import type { HostRecord, HostStore } from '../hosts/store.js'
import type { RepairStore } from '../repair/store.js'
import type { ShardSummary } from '../shards/store.js'
import { openSqliteStore, type BridgeStore } from '../store/sqlite/index.js'
import { composeStats, hostTotals, RECENT_MS, shardTotals, type NetworkStats } from './stats.js'
import type { StatsStore } from './store.js'

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
  state: HostState
  approved: boolean
  banned: boolean
  schedule: string | null
  auditsPassed: number
  auditsFailed: number
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
    online: isOnline(h, now, offlineAfterMs), state: hostState(h, now, offlineAfterMs), approved: h.approved, banned: h.banned,
    schedule: h.schedule, auditsPassed: h.auditsPassed, auditsFailed: h.auditsFailed, lastHeartbeat: h.lastSeen, failures: h.failures,
    reputation: reputationOf(h), shards: counts.get(h.id) ?? 0, createdAt: h.createdAt,
  }))
}

export function listShards(store: BridgeStore): ShardSummary[] {
  return store.listShards()
}

export type NetworkStatsStore = StatsStore & Pick<HostStore, 'allHosts'> & Pick<AuditStore, 'auditCounts'> & Pick<RepairStore, 'repairsSince'>

/**
 * Hosts are judged here with the chores' own rules; shards are only grouped by the store. The
 * reads are not one snapshot (a chore may move a mirror in between): fine for a glance.
 * `repairsPerRound` is the repair chore's cap, for how much of the queue the next round takes.
 */
export function networkStats(store: NetworkStatsStore, now: number, offlineAfterMs: number, repairsPerRound?: number): NetworkStats {
  const hosts = hostTotals(store.allHosts(), now, offlineAfterMs)
  return composeStats({
    at: now,
    counts: store.statsCounts(),
    hosts,
    shards: shardTotals(store.shardHealth(hosts.counted, hosts.sources), repairsPerRound),
    recentAudits: store.auditCounts(now - RECENT_MS),
    recentRepairs: store.repairsSince(now - RECENT_MS),
  })
}

/** A host by full id or unique prefix (at least 8 hex characters). */
export function findHost(store: BridgeStore, idOrPrefix: string): HostRecord {
  const want = idOrPrefix.trim().toLowerCase()
  if (!/^[0-9a-f]{8,64}$/.test(want)) throw xerr('XC_USAGE', 'a host id is 8 to 64 hex characters (a unique prefix is enough)')
  const found = store.allHosts().filter((h) => h.id.startsWith(want))
  if (found.length === 0) throw xerr('XC_NOT_FOUND', `no host ${want}`)
  if (found.length > 1) throw xerr('XC_USAGE', `${found.length} hosts start with ${want}: give more characters`)
  return found[0]!
}

export function setHostApproval(store: BridgeStore, idOrPrefix: string, fields: { approved?: boolean; banned?: boolean }): HostRecord {
  const h = findHost(store, idOrPrefix)
  store.setApproval(h.id, fields)
  return store.getHost(h.id)!
}

const REGION_RE = /^[A-Za-z0-9_.-]{1,64}$/

/** Limit where an account's shards stored from now on (and their repairs) go; [] or ['any'] lifts it. Shards already stored keep their rule. */
export function setUserRegions(store: BridgeStore, email: string, regions: readonly string[]): { userId: string; regions: string[] | null } {
  const user = store.userByEmail(email.trim().toLowerCase())
  if (!user) throw xerr('XC_NOT_FOUND', `no user ${email}`)
  const list = regions.flatMap((r) => r.split(',')).map((r) => r.trim()).filter((r) => r !== '')
  for (const r of list) if (!REGION_RE.test(r)) throw xerr('XC_USAGE', `"${r}" is not a region name (letters, digits, . _ -)`)
  const value = list.length === 0 || (list.length === 1 && list[0] === 'any') ? null : [...new Set(list)]
  store.setUserRegions(user.id, value)
  return { userId: user.id, regions: value }
}

export interface LedgerSummary {
  hostId: string
  storageByteMs: number
  storageGBHours: number
  egressBytes: number
  earnings: ReturnType<typeof earningsOf>
  entries: LedgerEntry[]
}

export function ledgerOf(store: BridgeStore, prices: Prices, now: number, offlineAfterMs: number, idOrPrefix?: string): LedgerSummary[] {
  const hosts = idOrPrefix === undefined ? store.allHosts() : [findHost(store, idOrPrefix)]
  return hosts.map((h) => {
    const entries = store.ledgerEntries(h.id)
    const storageByteMs = entries.filter((e) => e.kind === 'storage').reduce((a, e) => a + e.quantity, 0)
    return {
      hostId: h.id, storageByteMs, storageGBHours: storageByteMs / 1e9 / 3_600_000,
      egressBytes: entries.filter((e) => e.kind === 'egress').reduce((a, e) => a + e.quantity, 0),
      earnings: earningsOf({ ctx: { now: () => now, offlineAfterMs, prices }, store }, h.id, now),
      entries,
    }
  })
}
