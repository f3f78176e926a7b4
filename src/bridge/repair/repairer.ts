/**
 * The repair chore. The checker (priority.ts) lists shards whose counted mirrors are under target,
 * fewest first; the repairer orders healthy hosts (bridge-signed replicate orders) to copy each
 * one from a surviving mirror, checks the receipt the new host signed, records the mirror and the
 * fresh challenges the new host computed. Then mirrors that no longer count and are no longer
 * needed are dropped (their hosts get delete orders), and an exiting host with nothing left
 * becomes exited.
 *
 * Rate limit: at most `maxPerRound` shards per round, `concurrency` copies at once; the most
 * endangered shards go first, so a large backlog never delays the shard with one mirror left.
 * New mirrors follow the same rules as uploads (placement/candidates.ts), including the owner's
 * regions, and never go to a host that failed an audit of that shard in the last week.
 */
import type { Logger } from 'pino'
import { toXError } from '../../shared/errors.js'
import { publicKeyObject, verifyReceipt } from '../../shared/tokens.js'
import { parallelMap } from '../../shared/pipeline.js'
import type { AuditStore } from '../audit/store.js'
import type { BridgeContext } from '../context.js'
import { dropMirror } from '../earnings/service.js'
import type { LedgerStore } from '../earnings/store.js'
import type { GcStore } from '../gc/store.js'
import { contactOf, isAvailable, isCounted } from '../hosts/health.js'
import type { HostRecord, HostStore } from '../hosts/store.js'
import { digestsFor, freshSalt, type OrderSender } from '../orders/sender.js'
import { placementCandidates } from '../placement/candidates.js'
import { placeShards } from '../placement/place.js'
import type { UploadStore } from '../uploads/store.js'
import { droppableMirrors, repairQueue, type ShardView } from './priority.js'
import type { RepairStore, ShardMirrorsRow } from './store.js'

export const REPAIR_SALTS = 2
/** A host that failed an audit of a shard gets no new copy of it for this long. */
export const FAILED_AUDIT_MEMORY_MS = 7 * 24 * 3600_000

export interface RepairDeps {
  ctx: Pick<BridgeContext, 'now' | 'offlineAfterMs' | 'prices' | 'requireApproval' | 'tokens'>
  store: RepairStore & Pick<HostStore, 'allHosts' | 'getHost' | 'markExited' | 'addEgressCredit'> & Pick<AuditStore, 'addChallenges'>
    & Pick<GcStore, 'queueDeletion'> & Pick<UploadStore, 'pendingBytes'> & LedgerStore
  orders: Pick<OrderSender, 'send'>
  log: Pick<Logger, 'info' | 'warn'>
  maxPerRound: number
  concurrency: number
  /** When each shard's repair was last attempted; kept across rounds for fair ordering. */
  lastTried: Map<string, number>
}

export interface RepairRound {
  underTarget: number
  unrepairable: number
  copied: number
  failed: number
  dropped: number
  exited: number
}

function views(rows: readonly ShardMirrorsRow[], byId: ReadonlyMap<string, HostRecord>, now: number, offlineAfterMs: number): ShardView[] {
  return rows.map((s) => ({
    hash: s.hash, size: s.size, target: s.target,
    mirrors: s.hosts.map((id) => {
      const h = byId.get(id)
      return { hostId: id, counted: !!h && isCounted(h, now, offlineAfterMs), source: !!h && isAvailable(h, now, offlineAfterMs) }
    }),
  }))
}

export async function repairRound(d: RepairDeps): Promise<RepairRound> {
  const now = d.ctx.now()
  const hosts = d.store.allHosts()
  const byId = new Map(hosts.map((h) => [h.id, h]))
  const rows = d.store.shardsWithMirrors()
  const rowByHash = new Map(rows.map((r) => [r.hash, r]))
  const { needs, unrepairable } = repairQueue(views(rows, byId, now, d.ctx.offlineAfterMs), d.lastTried)
  const round: RepairRound = { underTarget: needs.length + unrepairable, unrepairable, copied: 0, failed: 0, dropped: 0, exited: 0 }
  const pending = d.store.pendingBytes(now - 60_000)

  const work = needs.slice(0, d.maxPerRound)
  for (const need of work) d.lastTried.set(need.hash, now)
  // Shards that no longer need repair are forgotten, so the map stays as small as the backlog.
  if (d.lastTried.size > needs.length + work.length) {
    const still = new Set(needs.map((n) => n.hash))
    for (const h of d.lastTried.keys()) if (!still.has(h)) d.lastTried.delete(h)
  }
  for await (const _ of parallelMap(work, d.concurrency, async (need) => {
    const row = rowByHash.get(need.hash)!
    const candidates = placementCandidates(hosts, pending, { now, offlineAfterMs: d.ctx.offlineAfterMs, requireApproval: d.ctx.requireApproval, regions: row.regions })
    // Not back onto a host that lost or spoiled this very shard lately.
    const exclude = new Set([...need.exclude, ...d.store.failedAuditHosts(need.hash, now - FAILED_AUDIT_MEMORY_MS)])
    let targets: string[] = []
    for (let k = need.missing; k >= 1 && targets.length === 0; k--) {
      try {
        targets = placeShards([{ hash: need.hash, size: need.size, exclude }], candidates, k)[0]!.hostIds
      } catch {
        // Fewer eligible hosts than missing mirrors: add what can be added.
      }
    }
    for (const targetId of targets) {
      const ok = await copyTo(d, need.hash, need.size, byId.get(targetId)!, need.sources.map((id) => byId.get(id)!))
      if (ok) round.copied++
      else round.failed++
    }
    return undefined
  })) { /* drained */ }

  // Mirrors that do not count and are no longer needed, now that repair may have replaced them.
  const after = views(d.store.shardsWithMirrors(), new Map(d.store.allHosts().map((h) => [h.id, h])), d.ctx.now(), d.ctx.offlineAfterMs)
  for (const v of after) {
    for (const hostId of droppableMirrors(v)) {
      if (dropMirror({ ctx: d.ctx, store: d.store }, v.hash, hostId, d.ctx.now())) round.dropped++
    }
  }
  for (const h of d.store.allHosts()) {
    if (h.exitStartedAt !== null && h.exitedAt === null && d.store.mirrorCountOn(h.id) === 0) {
      d.store.markExited(h.id, d.ctx.now())
      d.log.info({ host: h.id }, 'host exited: no shard depends on it')
      round.exited++
    }
  }
  return round
}

/** One new mirror: try each source in turn until the target stores a verified copy. */
async function copyTo(d: RepairDeps, hash: string, size: number, target: HostRecord, sources: readonly HostRecord[]): Promise<boolean> {
  for (const source of sources) {
    const salts = Array.from({ length: REPAIR_SALTS }, freshSalt)
    const at = d.ctx.now()
    // The source is credited before it serves (a heartbeat may report the bytes before the order
    // returns), and the credit is taken back if the copy fails.
    d.store.addEgressCredit(new Map([[source.id, size]]))
    try {
      const answer = await d.orders.send(target, { kind: 'replicate', hash, size, source: contactOf(source), token: d.ctx.tokens.get(hash, source.id), salts })
      const r = answer?.receipt
      if (!r || r.h !== hash || r.size !== size || r.host !== target.id || !verifyReceipt(publicKeyObject(target.publicKey), r)) {
        throw Object.assign(new Error('the receipt does not verify'), { code: 'XC_HOST_SIGNATURE' })
      }
      if (!d.store.addMirror(hash, target.id, d.ctx.now()) && !d.store.shardExists(hash)) {
        // Collected while the copy was on its way: the new copy is garbage too.
        d.store.queueDeletion(hash, target.id, d.ctx.now())
        return false
      }
      const pairs = digestsFor(salts, answer.digests)
      if (pairs.length > 0) d.store.addChallenges(hash, pairs, target.id, d.ctx.now())
      d.store.recordRepair({ hash, sourceId: source.id, targetId: target.id, size, at, ok: true, error: null })
      return true
    } catch (err) {
      d.store.addEgressCredit(new Map([[source.id, -size]]))
      const code = (err as { code?: string }).code ?? toXError(err).code
      d.store.recordRepair({ hash, sourceId: source.id, targetId: target.id, size, at, ok: false, error: code })
      d.log.warn({ hash, source: source.id, target: target.id, err: String(err) }, 'repair copy failed')
      // A target that cannot take it (full, refusing the order) will not do better with another
      // source; anything else may be the source's fault, so the next source is tried.
      if (code === 'XC_CAPACITY' || code.startsWith('XC_ORDER_') || code === 'XC_HOST_SIGNATURE') return false
    }
  }
  return false
}
