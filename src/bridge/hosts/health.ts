/**
 * How the bridge judges a host: online while its heartbeats keep coming, and a reputation from
 * what it did.
 *
 * reputation = (successes + 1) / (successes + failures + 1)
 *
 * where successes are receipts the host signed and the bridge accepted, and failures are client
 * reports (mismatch, timeout, error, refused). A new host starts at 1; every failure pulls it
 * down, every stored shard slowly earns it back, and the +1 keeps one early failure from sinking a
 * host with no history to 0.
 */
import type { HostContact } from '../../shared/protocol.js'
import type { HostRecord } from './store.js'

export function reputationOf(successes: number, failures: number): number {
  return (successes + 1) / (successes + failures + 1)
}

export function isOnline(h: Pick<HostRecord, 'lastSeen'>, now: number, offlineAfterMs: number): boolean {
  return h.lastSeen >= now - offlineAfterMs
}

export function contactOf(h: HostRecord): HostContact {
  return { id: h.id, url: h.url, fingerprint: h.fingerprint, cert: h.cert, region: h.region }
}

export function contactsOf(hosts: Iterable<HostRecord>): Record<string, HostContact> {
  const out: Record<string, HostContact> = {}
  for (const h of hosts) out[h.id] = contactOf(h)
  return out
}
