/**
 * One SQLite database implementing every domain's storage interface. Each domain's statements
 * live in their own file; this composes them with the transaction that spans them.
 */
import type { StatsStore } from '../../admin/store.js'
import type { AuditStore } from '../../audit/store.js'
import type { LedgerStore } from '../../earnings/store.js'
import type { GcStore } from '../../gc/store.js'
import type { RepairStore } from '../../repair/store.js'
import type { SessionStore, UserStore } from '../../auth/store.js'
import type { HostStore } from '../../hosts/store.js'
import type { ShardStore } from '../../shards/store.js'
import type { TreeStore } from '../../tree/store.js'
import type { UploadStore } from '../../uploads/store.js'
import type { Transactor } from '../index.js'
import { openDatabase } from './db.js'
import { sqliteAudits, sqliteGc, sqliteLedger, sqliteRepair } from './health.js'
import { sqliteHosts } from './hosts.js'
import { sqliteShards } from './shards.js'
import { sqliteStats } from './stats.js'
import { sqliteTree } from './tree.js'
import { sqliteUploads } from './uploads.js'
import { sqliteUsers } from './users.js'

export type BridgeStore = Transactor & UserStore & SessionStore & HostStore & TreeStore & ShardStore & UploadStore & StatsStore & AuditStore & RepairStore & GcStore & LedgerStore & {
  close(): void
}

export function openSqliteStore(file: string): BridgeStore {
  const db = openDatabase(file)
  return {
    ...sqliteUsers(db),
    ...sqliteHosts(db),
    ...sqliteTree(db),
    ...sqliteShards(db),
    ...sqliteUploads(db),
    ...sqliteStats(db),
    ...sqliteAudits(db),
    ...sqliteRepair(db),
    ...sqliteGc(db),
    ...sqliteLedger(db),
    // Nested calls become savepoints, so a domain method that opens its own transaction composes.
    transaction: <T>(fn: () => T): T => db.transaction(fn).immediate(),
    close: () => db.close(),
  }
}
