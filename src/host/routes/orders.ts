/**
 * POST /orders `{ "order": "<wire>" }`: the bridge telling this host to audit, replicate or delete
 * (shared/orders.ts). Checks, in this order, each refused with its own 4xx code:
 *   body (≤ 64 KiB JSON) → signature against the bridge key pinned at init, expiry, host →
 *   online hours (XC_OFF_SCHEDULE, before the nonce is spent, so the bridge may resend later) →
 *   replay (one ReplayGuard per process: a nonce runs once; orders issued before this process
 *   started are refused, since an earlier run may have carried them out) → the order itself.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { xerr } from '../../shared/errors.js'
import { verifyOrder, type OrderAnswer, type ReplayGuard } from '../../shared/orders.js'
import type { KeyObject } from 'node:crypto'
import { runAudit } from '../orders/audit.js'
import { runDelete } from '../orders/delete.js'
import { runReplicate, type ReplicateDeps } from '../orders/replicate.js'
import type { ShardStore } from '../storage/shard-store.js'
import { readJsonBody } from './json-body.js'

/** Largest order body; the longest order (a full delete batch) is well under it. */
export const MAX_ORDER_BODY = 64 * 1024

export interface OrderRouteDeps extends ReplicateDeps {
  store: ReplicateDeps['store'] & Pick<ShardStore, 'remove' | 'syncDirs'>
  bridgeKey: KeyObject
  guard: Pick<ReplayGuard, 'admit'>
  /** Throws XC_OFF_SCHEDULE outside the owner's online hours. */
  requireOnline: () => void
}

export function registerOrderRoutes(app: FastifyInstance, deps: OrderRouteDeps): void {
  app.post('/orders', (req, reply) => handleOrder(deps, req, reply))
}

async function handleOrder(deps: OrderRouteDeps, req: FastifyRequest, reply: FastifyReply): Promise<OrderAnswer> {
  let body: unknown
  try {
    body = await readJsonBody(req.raw, MAX_ORDER_BODY)
  } catch (err) {
    // Part of the body is still unread: the connection cannot carry another request.
    if (!req.raw.complete) reply.header('connection', 'close')
    throw err
  }
  const wire = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { order?: unknown }).order : undefined
  if (typeof wire !== 'string') throw xerr('XC_BAD_REQUEST', 'the body must be { "order": "<signed order>" }')
  const now = Date.now()
  const order = verifyOrder(deps.bridgeKey, wire, deps.hostId, now)
  deps.requireOnline()
  deps.guard.admit(order, now)
  req.log.debug({ kind: order.kind, n: order.n }, 'order')
  switch (order.kind) {
    case 'audit':
      return runAudit(deps.store, order, (hash) => req.log.warn({ hash }, 'audited shard does not match its hash (rot)'))
    case 'replicate':
      return runReplicate(deps, order)
    case 'delete':
      return runDelete(deps.store, order)
  }
}
