/**
 * Replicate order (repair, or a graceful exit of another host): copy one shard from a source host
 * with the get token the bridge minted, and vouch for it like an upload.
 *
 * Invariants: capacity is reserved before a byte moves (XC_CAPACITY otherwise); the bytes are
 * stored only if their size and SHA-256 are the order's (XC_HASH_MISMATCH otherwise, nothing
 * stored); storing is the same temp-fsync-rename as a PUT, and the receipt is signed only after
 * it. The source is reached over HTTPS pinned to the certificate the bridge recorded for it
 * (shared/http/pinned.ts). A shard already held intact is not fetched again, only marked stored
 * again; a held copy that rotted is replaced. The owner's download limit is honoured by charging
 * the shard's bytes to the same bucket PUT bodies use before fetching it.
 */
import { createHash, type KeyObject } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { XError, toXError, xerr } from '../../shared/errors.js'
import { pinnedRequest } from '../../shared/http/pinned.js'
import { challengeDigest, type ReplicateAnswer, type ReplicateOrder } from '../../shared/orders.js'
import { SHARD_SIZE } from '../../shared/protocol.js'
import type { RateLimit } from '../bandwidth/rate-limit.js'
import type { TrafficCounter } from '../bandwidth/throttle.js'
import { receiptFor } from '../routes/shards.js'
import type { ShardStore } from '../storage/shard-store.js'

/**
 * A source silent this long is given up on. Below the bridge's order timeout (30 s), so the host
 * is not still copying a shard for an order the bridge has already written off.
 */
const FETCH_IDLE_TIMEOUT_MS = 20_000

export interface ReplicateDeps {
  store: Pick<ShardStore, 'readAll' | 'touch' | 'remove' | 'reserve' | 'put'>
  hostId: string
  hostKey: KeyObject
  inLimit: Pick<RateLimit, 'bucket'>
  traffic: Pick<TrafficCounter, 'countIn'>
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

export async function runReplicate(deps: ReplicateDeps, o: ReplicateOrder): Promise<ReplicateAnswer> {
  if (o.size > SHARD_SIZE) throw xerr('XC_BAD_REQUEST', `a shard is at most ${SHARD_SIZE} bytes`)
  let bytes = await heldCopy(deps, o)
  if (!bytes) {
    const reservation = deps.store.reserve(o.size)
    try {
      bytes = await fetchFromSource(deps, o)
      await deps.store.put(o.hash, bytes)
    } finally {
      reservation.release()
    }
  }
  const data = bytes
  return { receipt: receiptFor(deps, o.hash, o.size), digests: o.salts.map((salt) => challengeDigest(salt, data)) }
}

/** The intact copy already here, marked stored again; null when absent (or rotted, then removed). */
async function heldCopy(deps: ReplicateDeps, o: ReplicateOrder): Promise<Buffer | null> {
  const bytes = await deps.store.readAll(o.hash)
  if (!bytes) return null
  if (bytes.length !== o.size || sha256(bytes) !== o.hash) {
    // Same name, wrong bytes: the store would keep a same-size file as is, so clear it first.
    await deps.store.remove(o.hash)
    return null
  }
  if (await deps.store.touch(o.hash)) return bytes
  // A delete order removed it between the read and the touch: store the verified bytes again.
  const reservation = deps.store.reserve(o.size)
  try {
    await deps.store.put(o.hash, bytes)
  } finally {
    reservation.release()
  }
  return bytes
}

async function fetchFromSource(deps: ReplicateDeps, o: ReplicateOrder): Promise<Buffer> {
  const source = o.source.id.slice(0, 12)
  const wait = deps.inLimit.bucket?.take(o.size, performance.now()) ?? 0
  if (wait > 0) await new Promise((r) => setTimeout(r, Math.ceil(wait)))
  let body: Buffer
  try {
    body = await pinnedRequest(o.source, {
      method: 'GET',
      path: `/shards/${o.hash}`,
      headers: { authorization: `XC-Token ${o.token}` },
      // A little over the size, so a source that sends too much is caught as wrong bytes.
      maxBytes: o.size + 1024,
      timeoutMs: FETCH_IDLE_TIMEOUT_MS,
    })
  } catch (err) {
    let x = toXError(err)
    // Whatever else went wrong reaching it (a TLS failure, a reset) is the source being unreachable.
    if (x.code === 'XC_INTERNAL') x = new XError('XC_HOST_UNREACHABLE', x.message)
    if (x.code === 'XC_BODY_TOO_LARGE') throw xerr('XC_HASH_MISMATCH', `source host ${source} sent more than ${o.size} bytes`, { source: o.source.id })
    // The source's own error, marked as the source's so the bridge does not blame this host.
    throw new XError(x.code, `source host ${source}: ${x.message}`, { ...x.details, source: o.source.id })
  }
  deps.traffic.countIn(body.length)
  if (body.length !== o.size) throw xerr('XC_HASH_MISMATCH', `source host ${source} sent ${body.length} bytes, not ${o.size}`, { source: o.source.id })
  const digest = sha256(body)
  if (digest !== o.hash) throw xerr('XC_HASH_MISMATCH', `bytes from source host ${source} hash to ${digest}, not ${o.hash}`, { source: o.source.id })
  return body
}
