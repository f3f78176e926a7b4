/**
 * Delete order: remove shards the bridge no longer places here, except any stored (or stored
 * again) after the order was issued — a client may have uploaded the same shard meanwhile, and
 * its receipt must stay true. A hash that is not here counts as deleted (the goal is reached).
 * Counters stay exact (the store updates them per removal) and the touched folders are fsynced
 * once per batch before the answer, so the answer outlives a crash.
 * The comparison is the host's mtime against the bridge's issue time: a host clock running behind
 * the bridge's would narrow the protection, which is why hosts are expected to keep NTP time.
 */
import type { DeleteAnswer, DeleteOrder } from '../../shared/orders.js'
import type { ShardStore } from '../storage/shard-store.js'

/** Removals in flight at once: enough to overlap disk latency, few enough to leave room for serving. */
const PARALLEL = 16

export async function runDelete(store: Pick<ShardStore, 'remove' | 'syncDirs'>, o: DeleteOrder): Promise<DeleteAnswer> {
  const hashes = [...new Set(o.hashes)]
  const deleted: string[] = []
  const kept: string[] = []
  const dirs = new Set<string>()
  for (let i = 0; i < hashes.length; i += PARALLEL) {
    const batch = hashes.slice(i, i + PARALLEL)
    const results = await Promise.all(batch.map((h) => store.remove(h, o.iat)))
    results.forEach((r, j) => {
      const h = batch[j]!
      if (r.outcome === 'kept') kept.push(h)
      else deleted.push(h)
      if (r.outcome === 'deleted') dirs.add(r.dir)
    })
  }
  await store.syncDirs(dirs)
  return { deleted, kept }
}
