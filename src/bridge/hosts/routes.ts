/**
 * The host registry over HTTP: announce (register or update, key in the body), heartbeat, self
 * (state and earnings) and exit, all signed with the host's registered key; plus client reports
 * of hosts that failed them. Every contact accrues the host's earnings up to now.
 */
import { X509Certificate } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { xerr } from '../../shared/errors.js'
import type { AnnounceRequest, AnnounceResponse, HeartbeatRequest, HeartbeatResponse, HostReport, HostSelf } from '../../shared/protocol.js'
import { parseSchedule } from '../../shared/schedule.js'
import { hostIdOf } from '../../shared/tokens.js'
import type { SessionHook } from '../auth/session.js'
import { userOf } from '../auth/session.js'
import type { BridgeContext } from '../context.js'
import { rawBodyOf } from '../http/json-body.js'
import { hash, hostId, nullable, obj, str, uint } from '../http/schemas.js'
import type { ShardStore } from '../shards/store.js'
import { accrueContact, earningsOf, type EarningsDeps } from '../earnings/service.js'
import type { LedgerStore } from '../earnings/store.js'
import type { RepairStore } from '../repair/store.js'
import { hostState, reputationOf } from './health.js'
import { claimedHostId, verifyHostRequest, type SignedRequestParts } from './signature.js'
import type { HostStore } from './store.js'

export const HEARTBEAT_MS = 30_000
/** One report per reporter, host and shard counts per this window. */
export const REPORT_WINDOW_MS = 24 * 3600_000

export interface HostRouteDeps {
  ctx: Pick<BridgeContext, 'now' | 'offlineAfterMs' | 'prices'>
  hosts: Pick<HostStore, 'upsertHost' | 'heartbeat' | 'getHost' | 'recordFailure' | 'startExit'> & LedgerStore & Pick<RepairStore, 'mirrorCountOn'>
  shards: Pick<ShardStore, 'userHasShard' | 'mirrorsOf'>
  requireSession: SessionHook
  /** A client saw a shard from this host fail its hash: audit that mirror early. */
  suspect?: (hostId: string, hash: string) => void
}

const announceBody = obj({
  publicKey: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
  url: str(2048, 8),
  fingerprint: { type: 'string', pattern: '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$' },
  cert: str(16384, 1),
  capacity: uint(),
  used: uint(),
  region: str(64),
  maxUploadRate: nullable(uint()),
  maxDownloadRate: nullable(uint()),
  schedule: nullable(str(400, 11)),
}, ['publicKey', 'url', 'fingerprint', 'cert', 'capacity', 'used', 'region', 'maxUploadRate', 'maxDownloadRate'])

const heartbeatBody = obj({ capacity: uint(), used: uint(), shards: uint(), bytesIn: uint(), bytesOut: uint(), uptimeMs: uint() })

function signedParts(req: FastifyRequest): SignedRequestParts {
  return { method: req.method, path: req.url.split('?')[0]!, headers: req.headers, rawBody: rawBodyOf(req) }
}

/** The announced URL is https://HOST:PORT and the certificate is the one the fingerprint names. */
function checkAnnounce(a: AnnounceRequest): void {
  let url: URL
  try {
    url = new URL(a.url)
  } catch {
    throw xerr('XC_BAD_REQUEST', 'url is not a URL')
  }
  if (url.protocol !== 'https:' || url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw xerr('XC_BAD_REQUEST', 'url must be https://HOST:PORT')
  }
  let cert: X509Certificate
  try {
    if (!a.cert.includes('-----BEGIN CERTIFICATE-----')) throw new Error('not PEM')
    cert = new X509Certificate(a.cert)
  } catch {
    throw xerr('XC_BAD_REQUEST', 'cert is not a PEM certificate')
  }
  if (cert.fingerprint256.toUpperCase() !== a.fingerprint.toUpperCase()) {
    throw xerr('XC_BAD_REQUEST', 'fingerprint does not match the certificate')
  }
  if (a.schedule) {
    try {
      parseSchedule(a.schedule)
    } catch (err) {
      throw xerr('XC_BAD_REQUEST', (err as Error).message)
    }
  }
}

export function registerHostRoutes(app: FastifyInstance, d: HostRouteDeps): void {
  const { ctx, hosts } = d
  const earnings: EarningsDeps = { ctx, store: hosts }

  app.post<{ Body: AnnounceRequest }>('/v1/hosts/announce', { schema: { body: announceBody } }, async (req): Promise<AnnounceResponse> => {
    const parts = signedParts(req)
    const id = claimedHostId(parts)
    const a = req.body
    if (hostIdOf(a.publicKey) !== id) throw xerr('XC_HOST_SIGNATURE', 'host id is not the hash of the public key')
    const now = ctx.now()
    verifyHostRequest(parts, a.publicKey, now)
    checkAnnounce(a)
    const before = hosts.getHost(id)
    if (before) accrueContact(earnings, before, null, now)
    hosts.upsertHost(id, { ...a, fingerprint: a.fingerprint.toUpperCase() }, now)
    if (!before) hosts.setAccrual(id, { accruedUntil: now, egressSeen: 0 })
    return { hostId: id, heartbeatMs: HEARTBEAT_MS, state: hostState(hosts.getHost(id)!, now, ctx.offlineAfterMs) }
  })

  app.post<{ Body: HeartbeatRequest }>('/v1/hosts/heartbeat', { schema: { body: heartbeatBody } }, async (req) => {
    const parts = signedParts(req)
    const id = claimedHostId(parts)
    const host = hosts.getHost(id)
    if (!host) throw xerr('XC_NOT_FOUND', 'unknown host: announce first')
    const now = ctx.now()
    verifyHostRequest(parts, host.publicKey, now)
    accrueContact(earnings, host, req.body.bytesOut, now)
    hosts.heartbeat(id, req.body, now)
    return { ok: true, state: hostState(hosts.getHost(id)!, now, ctx.offlineAfterMs) } satisfies HeartbeatResponse
  })

  /** The signed caller, or XC_NOT_FOUND / XC_HOST_SIGNATURE. */
  const signedHost = (req: FastifyRequest) => {
    const parts = signedParts(req)
    const host = hosts.getHost(claimedHostId(parts))
    if (!host) throw xerr('XC_NOT_FOUND', 'unknown host: announce first')
    verifyHostRequest(parts, host.publicKey, ctx.now())
    return host
  }

  const selfOf = (id: string): HostSelf => {
    const now = ctx.now()
    const h = hosts.getHost(id)!
    const stored = hosts.hostMirrors(id)
    return {
      hostId: id, state: hostState(h, now, ctx.offlineAfterMs), reputation: reputationOf(h), approved: h.approved, banned: h.banned,
      shards: stored.length, storedBytes: stored.reduce((a, m) => a + m.size, 0),
      auditsPassed: h.auditsPassed, auditsFailed: h.auditsFailed, earnings: earningsOf(earnings, id, now),
    }
  }

  app.post('/v1/hosts/self', { schema: { body: obj({}, []) } }, async (req): Promise<HostSelf> => selfOf(signedHost(req).id))

  // A graceful exit: the host stops counting as a mirror, repair copies its shards elsewhere, and
  // it becomes `exited` once nothing depends on it (repair/repairer.ts). Asking again is harmless.
  app.post('/v1/hosts/exit', { schema: { body: obj({}, []) } }, async (req): Promise<HostSelf> => {
    const host = signedHost(req)
    if (host.exitedAt === null) hosts.startExit(host.id, ctx.now())
    return selfOf(host.id)
  })

  app.post<{ Body: HostReport }>('/v1/reports', {
    onRequest: d.requireSession,
    schema: { body: obj({ hostId, hash, reason: { type: 'string', enum: ['mismatch', 'timeout', 'error', 'refused'] } }) },
  }, async (req, reply) => {
    const userId = userOf(req)
    const r = req.body
    // Only a shard of one of the reporter's own files, on a host that holds it, can be reported,
    // and once a day per reporter, host and shard: nobody can smear a host with reports about
    // shards it does not hold, or sink it by repeating one report.
    const holds = (d.shards.mirrorsOf([r.hash]).get(r.hash) ?? []).includes(r.hostId)
    if (!hosts.getHost(r.hostId) || !d.shards.userHasShard(userId, r.hash) || !holds) throw xerr('XC_NOT_FOUND', 'unknown host or shard')
    const counted = hosts.recordFailure({ hostId: r.hostId, hash: r.hash, reason: r.reason, reporterId: userId, at: ctx.now() }, REPORT_WINDOW_MS)
    if (counted && r.reason === 'mismatch') d.suspect?.(r.hostId, r.hash)
    return reply.status(204).send()
  })
}
