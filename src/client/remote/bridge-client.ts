/**
 * The client's view of the bridge: typed calls over keep-alive HTTP(S) (got), errors rebuilt from
 * the bridge's stable codes. The bridge sees only ciphertext names, wrapped keys and opaque
 * manifests; nothing here sends a plaintext name or byte.
 */
import got, { type Got } from 'got'
import http from 'node:http'
import https from 'node:https'
import { fromWire, toXError, XError } from '../../shared/errors.js'
import { withRetry } from '../../shared/retry.js'
import type {
  AccountInfo, BridgeInfo, ChangesResponse, CommitRequest, CommitResponse, ContentInfo, CreateNodeRequest,
  HostReport, KdfParams, LoginResponse, MoveRequest, PlaceResponse, Receipt, ShardChallenges, RegisterRequest, ShardRef,
  TokensResponse, TreeNode, UpdateNodeRequest,
} from '../../shared/protocol.js'

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE'

export class BridgeClient {
  readonly url: string
  private session: string | undefined
  private readonly http: Got

  constructor(url: string, session?: string) {
    this.url = url.replace(/\/+$/, '')
    this.session = session
    this.http = got.extend({
      prefixUrl: this.url,
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { request: 60_000 },
      agent: {
        http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
        https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
      },
    })
  }

  setSession(session: string | undefined): void {
    this.session = session
  }

  /** One call. Safe calls (GET, token and placement requests) are retried on transient errors. */
  private async call<T>(method: Method, path: string, body?: unknown, opts: { retry?: boolean; searchParams?: Record<string, string | number> } = {}): Promise<T> {
    const run = async (): Promise<T> => {
      let res
      try {
        res = await this.http(path.replace(/^\//, ''), {
          method,
          ...(body !== undefined ? { json: body } : {}),
          ...(opts.searchParams ? { searchParams: opts.searchParams } : {}),
          headers: this.session ? { authorization: `Bearer ${this.session}` } : {},
          responseType: 'text',
        })
      } catch (err) {
        const x = toXError(err)
        throw x.code === 'XC_INTERNAL' ? new XError('XC_UNAVAILABLE', `bridge unreachable: ${x.message}`) : x
      }
      let parsed: unknown = undefined
      if (res.body) {
        try {
          parsed = JSON.parse(res.body)
        } catch {
          throw new XError('XC_UNAVAILABLE', `bridge answered ${res.statusCode} with a non-JSON body`)
        }
      }
      if (res.statusCode >= 400) throw fromWire(res.statusCode, parsed)
      return parsed as T
    }
    return opts.retry === false || (method !== 'GET' && !opts.retry) ? run() : withRetry(run)
  }

  info(): Promise<BridgeInfo> { return this.call('GET', '/v1/info') }

  // Accounts
  kdfParams(email: string): Promise<{ kdf: KdfParams }> {
    return this.call('GET', '/v1/auth/params', undefined, { searchParams: { email } })
  }
  register(req: RegisterRequest): Promise<{ userId: string }> { return this.call('POST', '/v1/auth/register', req) }
  login(email: string, authKey: string): Promise<LoginResponse> { return this.call('POST', '/v1/auth/login', { email, authKey }) }
  logout(): Promise<void> { return this.call('POST', '/v1/auth/logout', {}) }
  account(): Promise<AccountInfo> { return this.call('GET', '/v1/account') }

  // Tree
  root(): Promise<TreeNode> { return this.call('GET', '/v1/tree/root') }
  node(id: string): Promise<TreeNode> { return this.call('GET', `/v1/tree/nodes/${encodeURIComponent(id)}`) }
  async children(id: string): Promise<TreeNode[]> {
    return (await this.call<{ nodes: TreeNode[] }>('GET', `/v1/tree/nodes/${encodeURIComponent(id)}/children`)).nodes
  }
  async lookup(parentId: string, nameHash: string): Promise<TreeNode | null> {
    try {
      return await this.call<TreeNode>('GET', '/v1/tree/lookup', undefined, { searchParams: { parentId, nameHash } })
    } catch (err) {
      if (err instanceof XError && err.code === 'XC_NOT_FOUND') return null
      throw err
    }
  }
  createNode(req: CreateNodeRequest): Promise<TreeNode> { return this.call('POST', '/v1/tree/nodes', req) }
  move(id: string, req: MoveRequest): Promise<TreeNode> { return this.call('POST', `/v1/tree/nodes/${encodeURIComponent(id)}/move`, req) }
  update(id: string, req: UpdateNodeRequest): Promise<TreeNode> { return this.call('PATCH', `/v1/tree/nodes/${encodeURIComponent(id)}`, req) }
  deleteNode(id: string, expectedRevision?: number): Promise<void> {
    return this.call('DELETE', `/v1/tree/nodes/${encodeURIComponent(id)}`, undefined,
      expectedRevision === undefined ? {} : { searchParams: { expectedRevision } })
  }
  changes(since: number, limit = 1000): Promise<ChangesResponse> {
    return this.call('GET', '/v1/tree/changes', undefined, { searchParams: { since, limit } })
  }

  // Uploads
  createUpload(): Promise<{ uploadId: string; expiresAt: number; mirrors: number }> {
    return this.call('POST', '/v1/uploads', {}, { retry: true })
  }
  place(uploadId: string, shards: ShardRef[]): Promise<PlaceResponse> {
    return this.call('POST', `/v1/uploads/${encodeURIComponent(uploadId)}/shards`, { shards }, { retry: true })
  }
  replace(uploadId: string, hash: string, failedHostIds: string[]): Promise<PlaceResponse> {
    return this.call('POST', `/v1/uploads/${encodeURIComponent(uploadId)}/replace`, { hash, failedHostIds }, { retry: true })
  }
  receipts(uploadId: string, receipts: Receipt[], challenges: ShardChallenges[] = []): Promise<{ accepted: number }> {
    return this.call('POST', `/v1/uploads/${encodeURIComponent(uploadId)}/receipts`, challenges.length > 0 ? { receipts, challenges } : { receipts }, { retry: true })
  }
  commit(uploadId: string, req: CommitRequest): Promise<CommitResponse> {
    return this.call('POST', `/v1/uploads/${encodeURIComponent(uploadId)}/commit`, req)
  }

  // Downloads
  content(nodeId: string): Promise<ContentInfo> { return this.call('GET', `/v1/nodes/${encodeURIComponent(nodeId)}/content`) }
  tokens(versionId: string, from: number, count: number): Promise<TokensResponse> {
    return this.call('POST', `/v1/versions/${encodeURIComponent(versionId)}/tokens`, { from, count }, { retry: true })
  }
  report(r: HostReport): Promise<void> { return this.call('POST', '/v1/reports', r, { retry: true }) }

  /** The raw call, for tests of the bridge's answers to odd requests. */
  raw<T>(method: Method, path: string, body?: unknown): Promise<T> { return this.call(method, path, body, { retry: false }) }
}
