/**
 * Audit order: prove this host holds a shard by answering SHA-256(salt ‖ shard) for the bridge's
 * salt, and the same for each top-up salt (challenges the bridge will spend on the shard's other
 * mirrors). The shard is read once. A shard that is absent answers a null digest; one whose bytes
 * no longer match its name (rot) answers its true, failing digest and no top-ups, so a bad copy
 * never mints challenges that healthy mirrors would then fail.
 */
import { createHash } from 'node:crypto'
import { challengeDigest, type AuditAnswer, type AuditOrder } from '../../shared/orders.js'
import type { ShardStore } from '../storage/shard-store.js'

export async function runAudit(store: Pick<ShardStore, 'readAll'>, o: AuditOrder, onRot: (hash: string) => void): Promise<AuditAnswer> {
  const bytes = await store.readAll(o.hash)
  if (!bytes) return { digest: null, topUp: [] }
  const digest = challengeDigest(o.salt, bytes)
  if (createHash('sha256').update(bytes).digest('hex') !== o.hash) {
    onRot(o.hash)
    return { digest, topUp: [] }
  }
  return { digest, topUp: o.topUp.map((salt) => challengeDigest(salt, bytes)) }
}
