import type { FastifyInstance } from 'fastify'
import { MAX_BATCH_SHARDS } from '../../shared/protocol.js'
import { userOf, type SessionHook } from '../auth/session.js'
import { idParams, obj, uint } from '../http/schemas.js'
import { contentOf, tokensFor, type DownloadDeps } from './service.js'

type IdParams = { Params: { id: string } }

export function registerDownloadRoutes(app: FastifyInstance, d: DownloadDeps & { requireSession: SessionHook }): void {
  const onRequest = d.requireSession

  app.get<IdParams>('/v1/nodes/:id/content', { onRequest, schema: { params: idParams } }, async (req) => contentOf(d, userOf(req), req.params.id))

  app.post<IdParams & { Body: { from: number; count: number } }>('/v1/versions/:id/tokens', {
    onRequest, schema: { params: idParams, body: obj({ from: uint(), count: uint(MAX_BATCH_SHARDS, 1) }) },
  }, async (req) => tokensFor(d, userOf(req), req.params.id, req.body.from, req.body.count))
}
