/** GET /ping: liveness plus the numbers a client or bridge may want before placing a shard. */
import type { FastifyInstance } from 'fastify'
import type { PingResponse } from '../../shared/protocol.js'
import type { ShardStore } from '../storage/shard-store.js'

export function registerPingRoute(app: FastifyInstance, hostId: string, store: Pick<ShardStore, 'capacity' | 'used'>): void {
  app.get('/ping', async (): Promise<PingResponse> => ({ ok: true, hostId, capacity: store.capacity, used: store.used }))
}
