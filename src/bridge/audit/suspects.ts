/**
 * Shards a client reported as corrupt (hash mismatch) on a host. A report alone proves nothing —
 * the client may be wrong or lying — so it only earns the mirror an early audit: if the host
 * fails it, the mirror is dropped and repair replaces it like any other lost copy.
 *
 * Bounded on every side: each (host, shard) pair waits at most once, is audited again only after
 * `cooldownMs`, and at most MAX_PENDING pairs wait; beyond that reports wait for the regular
 * audit rounds.
 */
import { isAvailable, isCounted } from '../hosts/health.js'
import { auditOne, type AuditDeps } from './auditor.js'

export const MAX_PENDING = 4096

export interface SuspectRound {
  audited: number
  failed: number
}

export class Suspects {
  private readonly pending = new Map<string, { hostId: string; hash: string }>()
  private readonly audited = new Map<string, number>()

  constructor(private readonly cooldownMs: number) {}

  /** Queue an early audit; false when it was not queued (already waiting, cooling down, full). */
  report(hostId: string, hash: string, now: number): boolean {
    const key = `${hostId}:${hash}`
    const last = this.audited.get(key)
    if (this.pending.has(key) || (last !== undefined && now - last < this.cooldownMs) || this.pending.size >= MAX_PENDING) return false
    this.pending.set(key, { hostId, hash })
    return true
  }

  get size(): number {
    return this.pending.size
  }

  /** Audit what waits, on hosts that can answer now; the rest waits for a later round. */
  async round(d: AuditDeps): Promise<SuspectRound> {
    const now = d.ctx.now()
    for (const [key, at] of this.audited) if (now - at >= this.cooldownMs) this.audited.delete(key)
    const result: SuspectRound = { audited: 0, failed: 0 }
    for (const [key, { hostId, hash }] of [...this.pending]) {
      const h = d.store.getHost(hostId)
      const holds = (d.store.mirrorsOf([hash]).get(hash) ?? []).includes(hostId)
      if (!h || !holds || !isCounted(h, now, d.ctx.offlineAfterMs)) {
        this.pending.delete(key) // nothing left to check: the mirror is gone or no longer counts
        continue
      }
      if (!isAvailable(h, now, d.ctx.offlineAfterMs)) continue
      this.pending.delete(key)
      this.audited.set(key, now)
      const r = await auditOne(d, h, hash)
      if (r !== 'skipped') result.audited++
      if (r === 'fail') result.failed++
    }
    return result
  }
}
