/**
 * Writing earnings: on every contact with a host (announce, heartbeat) and when one of its mirrors
 * goes away between contacts. See accrual.ts for the rules.
 */
import type { Earnings } from '../../shared/protocol.js'
import type { BridgeContext } from '../context.js'
import type { HostRecord, HostStore } from '../hosts/store.js'
import type { RepairStore } from '../repair/store.js'
import { egressEntry, egressGrowth, periodStarts, storageByteMs, storageEntry } from './accrual.js'
import type { LedgerEntry, LedgerStore } from './store.js'

export interface EarningsDeps {
  ctx: Pick<BridgeContext, 'now' | 'offlineAfterMs' | 'prices'>
  store: LedgerStore & Pick<HostStore, 'getHost'>
}

/**
 * Accrue up to `now` for a host that just got in touch. `bytesOut` is its cumulative sent counter,
 * or null for an announce (a new process, whose counter starts again from 0).
 */
export function accrueContact(d: EarningsDeps, host: HostRecord, bytesOut: number | null, now: number): void {
  const entries: LedgerEntry[] = []
  const from = host.accruedUntil ?? now
  // Paid only while in touch: a gap longer than the offline limit earns nothing.
  if (now - host.lastSeen <= d.ctx.offlineAfterMs && host.exitedAt === null && now > from) {
    const byteMs = storageByteMs(d.store.hostMirrors(host.id), from, now)
    if (byteMs > 0) entries.push(storageEntry(host.id, byteMs, from, now, d.ctx.prices, now))
  }
  let used = 0
  if (bytesOut !== null) {
    used = Math.min(egressGrowth(bytesOut, host.egressSeen), host.egressCredit)
    if (used > 0) entries.push(egressEntry(host.id, used, host.lastSeen, now, d.ctx.prices, now))
  }
  d.store.appendLedger(entries)
  d.store.setAccrual(host.id, { accruedUntil: now, egressSeen: bytesOut ?? 0, egressCreditUsed: used })
}

/** A mirror removed between contacts: pay its last stretch, from the host's accrual cursor. */
export function accrueRemoved(d: EarningsDeps, hostId: string, removed: { size: number; storedAt: number }, now: number): void {
  const host = d.store.getHost(hostId)
  if (!host || host.accruedUntil === null || host.exitedAt !== null || now - host.lastSeen > d.ctx.offlineAfterMs) return
  const byteMs = storageByteMs([removed], host.accruedUntil, now)
  if (byteMs > 0) d.store.appendLedger([storageEntry(hostId, byteMs, host.accruedUntil, now, d.ctx.prices, now)])
}

export function earningsOf(d: EarningsDeps, hostId: string, now: number): Earnings {
  const p = periodStarts(now)
  const t = d.store.ledgerTotals(hostId, [p.week, p.month, p.year])
  return {
    currency: d.ctx.prices.currency,
    week: t.amounts[0]!, month: t.amounts[1]!, year: t.amounts[2]!, allTime: t.allTime,
    storageGBHours: t.storageByteMs / 1e9 / 3_600_000, egressGB: t.egressBytes / 1e9,
  }
}

/** Remove a mirror: pay its last stretch and queue the host-side delete. */
export function dropMirror(
  d: EarningsDeps & { store: Pick<RepairStore, 'removeMirror'> & { queueDeletion(hash: string, hostId: string, now: number): void } },
  hash: string, hostId: string, now: number,
): boolean {
  const removed = d.store.removeMirror(hash, hostId)
  d.store.queueDeletion(hash, hostId, now)
  if (!removed) return false
  accrueRemoved(d, hostId, removed, now)
  return true
}
