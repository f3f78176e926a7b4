/**
 * Garbage collection. A version replaced or deleted retires (a database trigger stamps it); once
 * it has been retired for the grace period it is dropped, and shards no version lists any more
 * are forgotten: each of their mirrors is removed (its last stretch of storage paid) and queued
 * for a delete order. Targets of expired uploads that never became mirrors are queued too. Then
 * queued deletions are delivered, per host, as signed delete orders.
 *
 * Invariants:
 * - nothing a current or recently retired version lists is deleted (the grace period covers
 *   clients still reading or editing on top of a version that just moved on);
 * - a queued deletion of a (shard, host) pair that is a mirror again, or that an open upload
 *   placed there again after it was queued, is cancelled, and the host
 *   itself keeps a shard stored after the order was issued (see host routes/orders.ts);
 * - deletions for hosts that are away wait for them; for exited hosts they are dropped.
 */
import type { Logger } from 'pino'
import { toXError } from '../../shared/errors.js'
import { MAX_DELETE_BATCH } from '../../shared/orders.js'
import type { BridgeContext } from '../context.js'
import { dropMirror } from '../earnings/service.js'
import type { LedgerStore } from '../earnings/store.js'
import { isAvailable } from '../hosts/health.js'
import type { HostStore } from '../hosts/store.js'
import type { OrderSender } from '../orders/sender.js'
import type { RepairStore } from '../repair/store.js'
import type { GcStore } from './store.js'

export interface GcDeps {
  ctx: Pick<BridgeContext, 'now' | 'offlineAfterMs' | 'prices'>
  store: GcStore & Pick<RepairStore, 'removeMirror'> & Pick<HostStore, 'getHost'> & LedgerStore
  orders: Pick<OrderSender, 'send'>
  log: Pick<Logger, 'info' | 'warn'>
  graceMs: number
}

export interface GcRound {
  versionsDropped: number
  shardsForgotten: number
  uploadsDropped: number
  deleted: number
  kept: number
  queued: number
}

export async function gcRound(d: GcDeps): Promise<GcRound> {
  const now = d.ctx.now()
  const round: GcRound = { versionsDropped: 0, shardsForgotten: 0, uploadsDropped: 0, deleted: 0, kept: 0, queued: 0 }
  round.versionsDropped = d.store.dropRetiredVersions(now - d.graceMs)
  for (;;) {
    const orphans = d.store.orphanShards(now, 1000)
    for (const s of orphans) {
      for (const hostId of s.hosts) dropMirror({ ctx: d.ctx, store: d.store }, s.hash, hostId, now)
      d.store.forgetShard(s.hash)
      round.shardsForgotten++
    }
    if (orphans.length < 1000) break
  }
  for (const id of d.store.expiredUploads(now - d.graceMs, 1000)) {
    for (const t of d.store.uploadLeftovers(id)) d.store.queueDeletion(t.hash, t.hostId, now)
    d.store.dropUpload(id)
    round.uploadsDropped++
  }
  await deliver(d, round)
  round.queued = d.store.deletionsQueued()
  return round
}

async function deliver(d: GcDeps, round: GcRound): Promise<void> {
  const now = d.ctx.now()
  await Promise.all([...d.store.pendingDeletions(MAX_DELETE_BATCH)].map(async ([hostId, hashes]) => {
    const host = d.store.getHost(hostId)
    if (!host || host.exitedAt !== null) {
      d.store.clearDeletions(hostId, hashes)
      return
    }
    if (!isAvailable(host, now, d.ctx.offlineAfterMs)) return
    const wanted = hashes.filter((h) => d.store.isWanted(h, hostId, now))
    if (wanted.length > 0) d.store.clearDeletions(hostId, wanted)
    const doomed = hashes.filter((h) => !wanted.includes(h))
    if (doomed.length === 0) return
    try {
      const answer = await d.orders.send(host, { kind: 'delete', hashes: doomed })
      const done = [...(Array.isArray(answer?.deleted) ? answer.deleted : []), ...(Array.isArray(answer?.kept) ? answer.kept : [])].filter((h) => doomed.includes(h))
      d.store.clearDeletions(hostId, done)
      round.deleted += Array.isArray(answer?.deleted) ? answer.deleted.length : 0
      round.kept += Array.isArray(answer?.kept) ? answer.kept.length : 0
    } catch (err) {
      d.log.warn({ host: hostId, err: toXError(err).code }, 'delete order failed; retried next round')
    }
  }))
}
