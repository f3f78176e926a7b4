/**
 * A stand-in bridge for host tests: serves /v1/info with a key pair the test owns (so the test can
 * mint transfer tokens) and records announce and heartbeat calls after checking their host
 * signatures exactly as a real bridge must.
 */
import Fastify from 'fastify'
import { HOST_SIG_HEADERS, generateSigningKeys, hostIdOf, hostRequestBytes, privateKeyObject, publicKeyObject, signTransferToken, verifyBytes, type SigningKeys, type TokenOp } from '../../../src/shared/tokens.js'
import type { AnnounceRequest, HeartbeatRequest } from '../../../src/shared/protocol.js'
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
  token(claims: { op: TokenOp; h: string; host: string; size?: number; exp?: number }, keys?: SigningKeys): string
  close(): Promise<void>
}

export async function startFakeBridge(opts: { heartbeatMs?: number } = {}): Promise<FakeBridge> {
  const keys = generateSigningKeys()
  const hostKeys = new Map<string, string>()
  const announces: Array<BridgeCall<AnnounceRequest>> = []
  const heartbeats: Array<BridgeCall<HeartbeatRequest>> = []
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
  app.get('/v1/info', async () => ({ version: 1, publicKey: keys.publicKey, mirrors: 3 }))
  app.post('/v1/hosts/announce', async (req) => {
    const { raw, json } = req.body as { raw: Buffer; json: AnnounceRequest }
    const hostId = String(req.headers[HOST_SIG_HEADERS.id])
    const ok = check(req, raw, json.publicKey)
    if (ok) hostKeys.set(hostId, json.publicKey)
    announces.push({ hostId, body: json, signatureOk: ok, at: Date.now() })
    return { hostId, heartbeatMs: opts.heartbeatMs ?? 30_000 }
  })
  app.post('/v1/hosts/heartbeat', async (req) => {
    const { raw, json } = req.body as { raw: Buffer; json: HeartbeatRequest }
    const hostId = String(req.headers[HOST_SIG_HEADERS.id])
    heartbeats.push({ hostId, body: json, signatureOk: check(req, raw, hostKeys.get(hostId)), at: Date.now() })
    return { ok: true }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    keys,
    announces,
    heartbeats,
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
    close: () => app.close(),
  }
}
