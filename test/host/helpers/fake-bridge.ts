/**
 * A stand-in bridge for host tests: serves /v1/info with a key pair the test owns (so the test can
 * mint transfer tokens and sign orders) and records announce and heartbeat calls after checking
 * their host signatures exactly as a real bridge must. It also keeps a HostSelf per host (state,
 * shards, earnings) behind /v1/hosts/self and /v1/hosts/exit, which tests drive through `self()`
 * and the `onSelf` hook (for example, to drain shards poll by poll during an exit).
 */
import Fastify from 'fastify'
import { HOST_SIG_HEADERS, generateSigningKeys, hostIdOf, hostRequestBytes, privateKeyObject, publicKeyObject, signTransferToken, verifyBytes, type SigningKeys, type TokenOp } from '../../../src/shared/tokens.js'
import type { AnnounceRequest, HeartbeatRequest, HostSelf } from '../../../src/shared/protocol.js'
import { signOrder, type OrderBody } from '../../../src/shared/orders.js'
import { randomBytes } from 'node:crypto'

export interface BridgeCall<T> {
  hostId: string
  body: T
  /** Whether the host signature verified (against the announced key). */
  signatureOk: boolean
  at: number
}

export interface FakeBridge {
  url: string
  keys: SigningKeys
  announces: Array<BridgeCall<AnnounceRequest>>
  heartbeats: Array<BridgeCall<HeartbeatRequest>>
  /** Signed calls to /v1/hosts/self and /v1/hosts/exit, in order. */
  selfCalls: Array<BridgeCall<unknown> & { path: string }>
  token(claims: { op: TokenOp; h: string; host: string; size?: number; exp?: number }, keys?: SigningKeys): string
  /** A signed order for `host`; `now` and `ttlMs` set its issue and expiry times. */
  order(host: string, body: OrderBody, o?: { now?: number; ttlMs?: number; keys?: SigningKeys; nonce?: string }): string
  /** Let the bridge know a host's key without an announce (as if it announced earlier). */
  knowHost(publicKey: string): void
  /** The bridge's record of a host (created on first announce or knowHost); tests may edit it. */
  self(hostId: string): HostSelf
  /** Called before answering /v1/hosts/self (after /v1/hosts/exit set `exiting`). */
  onSelf: ((self: HostSelf, path: string) => void) | null
  close(): Promise<void>
}

function newSelf(hostId: string): HostSelf {
  return {
    hostId,
    state: 'online',
    reputation: 0.97,
    approved: true,
    banned: false,
    shards: 0,
    storedBytes: 0,
    auditsPassed: 12,
    auditsFailed: 1,
    earnings: { currency: 'USD', week: 0.25, month: 1.5, year: 9.75, allTime: 12.5, storageGBHours: 1000, egressGB: 3 },
  }
}

export async function startFakeBridge(opts: { heartbeatMs?: number } = {}): Promise<FakeBridge> {
  const keys = generateSigningKeys()
  const hostKeys = new Map<string, string>()
  const selves = new Map<string, HostSelf>()
  const announces: Array<BridgeCall<AnnounceRequest>> = []
  const heartbeats: Array<BridgeCall<HeartbeatRequest>> = []
  const selfCalls: FakeBridge['selfCalls'] = []
  const selfOf = (hostId: string): HostSelf => {
    let s = selves.get(hostId)
    if (!s) selves.set(hostId, (s = newSelf(hostId)))
    return s
  }
  const app = Fastify({ logger: false })
  // Keep the raw bytes: the signature covers the body's SHA-256.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, raw, done) => {
    try {
      done(null, { raw, json: JSON.parse((raw as Buffer).toString('utf8')) })
    } catch (err) {
      done(err as Error, undefined)
    }
  })
  const check = (req: { method: string; url: string; headers: Record<string, unknown> }, raw: Buffer, pub: string | undefined): boolean => {
    const id = req.headers[HOST_SIG_HEADERS.id]
    const ts = Number(req.headers[HOST_SIG_HEADERS.ts])
    const sig = req.headers[HOST_SIG_HEADERS.sig]
    if (!pub || typeof id !== 'string' || typeof sig !== 'string' || id !== hostIdOf(pub)) return false
    if (Math.abs(Date.now() - ts) > 60_000) return false
    return verifyBytes(publicKeyObject(pub), hostRequestBytes(req.method, req.url, ts, raw), sig)
  }
  const fake: FakeBridge = {
    url: '',
    keys,
    announces,
    heartbeats,
    selfCalls,
    token(c, signWith = keys) {
      return signTransferToken(privateKeyObject(signWith.privateKey), {
        v: 1,
        op: c.op,
        h: c.h,
        host: c.host,
        exp: c.exp ?? Date.now() + 10 * 60_000,
        ...(c.size !== undefined ? { size: c.size } : {}),
        n: randomBytes(8).toString('hex'),
      })
    },
    order(host, body, o = {}) {
      return signOrder(privateKeyObject((o.keys ?? keys).privateKey), host, body, o.now ?? Date.now(), o.nonce ?? randomBytes(12).toString('base64url'), o.ttlMs)
    },
    knowHost(publicKey) {
      hostKeys.set(hostIdOf(publicKey), publicKey)
      selfOf(hostIdOf(publicKey))
    },
    self: selfOf,
    onSelf: null,
    close: () => app.close(),
  }
  app.get('/v1/info', async () => ({ version: 1, publicKey: keys.publicKey, mirrors: 3 }))
  app.post('/v1/hosts/announce', async (req) => {
    const { raw, json } = req.body as { raw: Buffer; json: AnnounceRequest }
    const hostId = String(req.headers[HOST_SIG_HEADERS.id])
    const ok = check(req, raw, json.publicKey)
    if (ok) hostKeys.set(hostId, json.publicKey)
    announces.push({ hostId, body: json, signatureOk: ok, at: Date.now() })
    return { hostId, heartbeatMs: opts.heartbeatMs ?? 30_000, state: selfOf(hostId).state }
  })
  app.post('/v1/hosts/heartbeat', async (req) => {
    const { raw, json } = req.body as { raw: Buffer; json: HeartbeatRequest }
    const hostId = String(req.headers[HOST_SIG_HEADERS.id])
    heartbeats.push({ hostId, body: json, signatureOk: check(req, raw, hostKeys.get(hostId)), at: Date.now() })
    return { ok: true, state: selfOf(hostId).state }
  })
  for (const path of ['/v1/hosts/self', '/v1/hosts/exit']) {
    app.post(path, async (req, reply) => {
      const { raw, json } = req.body as { raw: Buffer; json: unknown }
      const hostId = String(req.headers[HOST_SIG_HEADERS.id])
      const known = hostKeys.get(hostId)
      const ok = check(req, raw, known)
      selfCalls.push({ hostId, body: json, signatureOk: ok, at: Date.now(), path })
      if (!known) return reply.code(404).send({ error: { code: 'XC_NOT_FOUND', message: 'unknown host' } })
      if (!ok) return reply.code(401).send({ error: { code: 'XC_HOST_SIGNATURE', message: 'bad signature' } })
      const s = selfOf(hostId)
      if (path === '/v1/hosts/exit' && s.state !== 'exited') s.state = 'exiting'
      fake.onSelf?.(s, path)
      return s
    })
  }
  await app.listen({ host: '127.0.0.1', port: 0 })
  const addr = app.server.address()
  fake.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
  return fake
}
