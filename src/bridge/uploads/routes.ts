import type { FastifyInstance } from 'fastify'
import { MAX_BATCH_SHARDS, MAX_CHALLENGES_PER_SHARD, MAX_JSON_BODY, MAX_MIRRORS, SHARD_SIZE, type CommitRequest, type PlaceRequest, type ReceiptsRequest, type ReplaceRequest } from '../../shared/protocol.js'
import { SALT_RE } from '../../shared/orders.js'
import { userOf, type SessionHook } from '../auth/session.js'
import { b64url, hash, hostId, id, idParams, obj, uint } from '../http/schemas.js'
import { encMeta, encName } from '../tree/routes.js'
import { acceptReceipts, commitVersion, openUpload, placeBatch, replaceTarget, type UploadDeps } from './service.js'

/** Most shards one commit may list: 65,536 × 2 MiB = 128 GiB per file. */
export const MAX_COMMIT_SHARDS = 65_536

const shardRef = obj({ hash, size: uint(SHARD_SIZE, 1) })
const receipt = obj({ v: { type: 'integer', enum: [1] }, host: hostId, h: hash, size: uint(SHARD_SIZE, 1), at: uint(), sig: b64url(128) })
const challenge = obj({ salt: { type: 'string', pattern: SALT_RE.source }, digest: hash })
const shardChallenges = obj({ hash, pairs: { type: 'array', minItems: 1, maxItems: MAX_CHALLENGES_PER_SHARD, items: challenge } })
const target = {
  anyOf: [
    obj({ nodeId: id }),
    obj({ parentId: id, nameHash: hash, encName, encMeta }, ['parentId', 'nameHash', 'encName']),
  ],
} as const

type IdParams = { Params: { id: string } }

export function registerUploadRoutes(app: FastifyInstance, d: UploadDeps & { requireSession: SessionHook }): void {
  const onRequest = d.requireSession

  app.post<{ Body: { mirrors?: number } | undefined }>('/v1/uploads', {
    onRequest, schema: { body: { ...obj({ mirrors: uint(MAX_MIRRORS, 1) }, []), nullable: true } },
  }, async (req, reply) => {
    const u = openUpload(d, userOf(req), req.body?.mirrors)
    return reply.send({ uploadId: u.id, expiresAt: u.expiresAt, mirrors: u.mirrors })
  })

  app.post<IdParams & { Body: PlaceRequest }>('/v1/uploads/:id/shards', {
    onRequest,
    schema: { params: idParams, body: obj({ shards: { type: 'array', minItems: 1, maxItems: MAX_BATCH_SHARDS, items: shardRef } }) },
  }, async (req) => placeBatch(d, userOf(req), req.params.id, req.body.shards))

  app.post<IdParams & { Body: ReplaceRequest }>('/v1/uploads/:id/replace', {
    onRequest,
    schema: { params: idParams, body: obj({ hash, failedHostIds: { type: 'array', maxItems: 64, items: hostId } }) },
  }, async (req) => replaceTarget(d, userOf(req), req.params.id, req.body.hash, req.body.failedHostIds))

  app.post<IdParams & { Body: ReceiptsRequest }>('/v1/uploads/:id/receipts', {
    onRequest,
    schema: {
      params: idParams,
      body: obj({
        receipts: { type: 'array', maxItems: MAX_BATCH_SHARDS * MAX_MIRRORS, items: receipt },
        challenges: { type: 'array', maxItems: MAX_BATCH_SHARDS, items: shardChallenges },
      }, ['receipts']),
    },
  }, async (req) => acceptReceipts(d, userOf(req), req.params.id, req.body.receipts, req.body.challenges))

  app.post<IdParams & { Body: CommitRequest }>('/v1/uploads/:id/commit', {
    onRequest,
    schema: {
      params: idParams,
      body: obj({
        target,
        baseVersionId: { anyOf: [id, { type: 'null' }] },
        size: uint(MAX_COMMIT_SHARDS * SHARD_SIZE),
        wrappedKey: b64url(1024),
        manifest: b64url(MAX_JSON_BODY),
        shards: { type: 'array', maxItems: MAX_COMMIT_SHARDS, items: shardRef },
      }),
    },
  }, async (req) => commitVersion(d, userOf(req), req.params.id, req.body))
}
