/**
 * Earnings accrual, as pure functions over plain numbers; hosts/routes.ts (heartbeats) and
 * shards/mirrors.ts (a mirror removed between heartbeats) write what they return to the ledger.
 *
 * - **Storage** accrues in byte-milliseconds: each mirror's size times the part of the window
 *   [from, to) it was held. The window is the time since the host's last accrual, and only while
 *   the host was online: a heartbeat gap longer than the offline limit pays nothing for the gap.
 * - **Egress** accrues in bytes: the growth of the host's cumulative bytes-sent counter (a counter
 *   that went down means the host restarted, so the whole new count is growth), capped by the
 *   host's egress credit, the bytes of get tokens the bridge minted for it. A host cannot be paid
 *   for traffic nobody was allowed to ask for.
 */
import type { LedgerEntry } from './store.js'
import type { Prices } from './prices.js'

const GB = 1e9
const HOUR_MS = 3_600_000

export function storageByteMs(mirrors: ReadonlyArray<{ size: number; storedAt: number }>, from: number, to: number): number {
  let total = 0
  for (const m of mirrors) {
    const start = Math.max(from, m.storedAt)
    if (to > start) total += m.size * (to - start)
  }
  return total
}

export function egressGrowth(reported: number, seen: number): number {
  return reported >= seen ? reported - seen : reported
}

export function storageEntry(hostId: string, byteMs: number, from: number, to: number, prices: Prices, at: number): LedgerEntry {
  const unitPrice = prices.storagePerGBHour
  return { hostId, kind: 'storage', periodStart: from, periodEnd: to, quantity: byteMs, unitPrice, amount: (byteMs / GB / HOUR_MS) * unitPrice, at }
}

export function egressEntry(hostId: string, bytes: number, from: number, to: number, prices: Prices, at: number): LedgerEntry {
  const unitPrice = prices.egressPerGB
  return { hostId, kind: 'egress', periodStart: from, periodEnd: to, quantity: bytes, unitPrice, amount: (bytes / GB) * unitPrice, at }
}

/** Start of the current UTC week (Monday), month and year, for the earnings summary. */
export function periodStarts(now: number): { week: number; month: number; year: number } {
  const d = new Date(now)
  const day = (d.getUTCDay() + 6) % 7 // Monday = 0
  const week = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day)
  return { week, month: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), year: Date.UTC(d.getUTCFullYear(), 0, 1) }
}
