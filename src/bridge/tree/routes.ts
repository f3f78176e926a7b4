/**
 * The tree over HTTP. Names are ciphertext (encName) plus a keyed hash (nameHash) that is unique
 * per parent; the bridge never sees a plaintext name. Every route is scoped to the session's user:
 * another user's node ids answer 404 like ids that never existed.
 */
import type { FastifyInstance } from 'fastify'
import { xerr } from '../../shared/errors.js'
import type { ChangesResponse, CreateNodeRequest, MoveRequest, TreeNode, UpdateNodeRequest } from '../../shared/protocol.js'
import { userOf, type SessionHook } from '../auth/session.js'
import type { BridgeContext } from '../context.js'
import { b64url, hash, id, idParams, intQuery, nullable, obj, queryInt, uint } from '../http/schemas.js'
import { createNode, deleteNode, moveNode, updateNodeMeta, type TreeDeps } from './service.js'
import type { TreeStore } from './store.js'

export const MAX_CHANGES = 10_000
const DEFAULT_CHANGES = 1000

export const encName = b64url(2048)
export const encMeta = nullable(b64url(65536, 0))
const kind = { type: 'string', enum: ['dir', 'file', 'symlink'] } as const
const revision = uint()

export interface TreeRouteDeps {
  ctx: Pick<BridgeContext, 'now'>
  tree: TreeDeps & Pick<TreeStore, 'rootOf' | 'children' | 'changesSince'>
  requireSession: SessionHook
}

type IdParams = { Params: { id: string } }

export function registerTreeRoutes(app: FastifyInstance, d: TreeRouteDeps): void {
  const { ctx, tree } = d
  const onRequest = d.requireSession

  const nodeOf = (userId: string, nodeId: string): TreeNode => {
    const n = tree.getNode(userId, nodeId)
    if (!n) throw xerr('XC_NOT_FOUND', 'no such node')
    return n
  }

  app.get('/v1/tree/root', { onRequest }, async (req) => {
    const root = tree.rootOf(userOf(req))
    if (!root) throw xerr('XC_NOT_FOUND', 'no root')
    return root
  })

  app.get<IdParams>('/v1/tree/nodes/:id', { onRequest, schema: { params: idParams } }, async (req) => nodeOf(userOf(req), req.params.id))

  app.get<IdParams>('/v1/tree/nodes/:id/children', { onRequest, schema: { params: idParams } }, async (req) => {
    const userId = userOf(req)
    const node = nodeOf(userId, req.params.id)
    if (node.kind !== 'dir') throw xerr('XC_NOT_DIR')
    return { nodes: tree.children(userId, node.id) }
  })

  app.get<{ Querystring: { parentId: string; nameHash: string } }>('/v1/tree/lookup', {
    onRequest, schema: { querystring: obj({ parentId: id, nameHash: hash }) },
  }, async (req) => {
    const userId = userOf(req)
    const parent = nodeOf(userId, req.query.parentId)
    if (parent.kind !== 'dir') throw xerr('XC_NOT_DIR')
    const n = tree.childByName(userId, parent.id, req.query.nameHash)
    if (!n) throw xerr('XC_NOT_FOUND', 'no such name')
    return n
  })

  app.post<{ Body: CreateNodeRequest }>('/v1/tree/nodes', {
    onRequest, schema: { body: obj({ parentId: id, nameHash: hash, encName, kind, encMeta }, ['parentId', 'nameHash', 'encName', 'kind']) },
  }, async (req, reply) => reply.status(201).send(createNode(tree, userOf(req), req.body, ctx.now())))

  app.post<IdParams & { Body: MoveRequest }>('/v1/tree/nodes/:id/move', {
    onRequest,
    schema: {
      params: idParams,
      body: obj({ parentId: id, nameHash: hash, encName, replace: { type: 'boolean' }, expectedRevision: revision }, ['parentId', 'nameHash', 'encName']),
    },
  }, async (req) => moveNode(tree, userOf(req), req.params.id, req.body, ctx.now()))

  app.patch<IdParams & { Body: UpdateNodeRequest }>('/v1/tree/nodes/:id', {
    onRequest, schema: { params: idParams, body: obj({ encMeta, expectedRevision: revision }, ['encMeta']) },
  }, async (req) => updateNodeMeta(tree, userOf(req), req.params.id, req.body, ctx.now()))

  app.delete<IdParams & { Querystring: { expectedRevision?: string } }>('/v1/tree/nodes/:id', {
    onRequest, schema: { params: idParams, querystring: obj({ expectedRevision: queryInt }, []) },
  }, async (req, reply) => {
    const expected = req.query.expectedRevision === undefined ? undefined : Number(req.query.expectedRevision)
    deleteNode(tree, userOf(req), req.params.id, expected, ctx.now())
    return reply.status(204).send()
  })

  app.get<{ Querystring: { since?: string; limit?: string } }>('/v1/tree/changes', {
    onRequest, schema: { querystring: obj({ since: queryInt, limit: queryInt }, []) },
  }, async (req): Promise<ChangesResponse> => {
    const since = intQuery(req.query.since, 0)
    const limit = Math.min(Math.max(intQuery(req.query.limit, DEFAULT_CHANGES), 1), MAX_CHANGES)
    const rows = tree.changesSince(userOf(req), since, limit + 1)
    const more = rows.length > limit
    const changes = more ? rows.slice(0, limit) : rows
    return { changes, cursor: changes.length ? changes[changes.length - 1]!.seq : since, more }
  })
}
