/**
 * Accounts and sessions: register, KDF parameters by email (with decoys), login, logout, account.
 */
import type { FastifyInstance } from 'fastify'
import { xerr } from '../../shared/errors.js'
import type { AccountInfo, LoginRequest, LoginResponse, RegisterRequest } from '../../shared/protocol.js'
import { defaultKdfParams } from '../../shared/crypto/index.js'
import type { BridgeContext } from '../context.js'
import type { HostStore } from '../hosts/store.js'
import { b64url, obj, str } from '../http/schemas.js'
import type { TreeStore } from '../tree/store.js'
import { checkedEmail, createAccount, type AccountStore } from './accounts.js'
import { authKeyMatches, decoyKdfParams, newSessionSecret, normaliseEmail, SESSION_TTL_MS, sessionHash } from './secrets.js'
import { bearerOf, userOf, type SessionHook } from './session.js'
import type { SessionStore } from './store.js'

export interface AuthDeps {
  ctx: Pick<BridgeContext, 'now' | 'secret' | 'offlineAfterMs'>
  store: AccountStore & SessionStore & Pick<TreeStore, 'usage'> & Pick<HostStore, 'hostsSeenSince'>
  requireSession: SessionHook
}

const email = str(254, 3)
const authKey = { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' } as const
const kdf = obj({
  alg: { type: 'string', enum: ['scrypt'] },
  N: { type: 'integer', minimum: 2, maximum: 2 ** 30 },
  r: { type: 'integer', minimum: 1, maximum: 1024 },
  p: { type: 'integer', minimum: 1, maximum: 1024 },
  salt: b64url(64),
})

function authKeyBytes(text: string): Buffer {
  const b = Buffer.from(text, 'base64url')
  if (b.length !== 32) throw xerr('XC_BAD_REQUEST', 'authKey is 32 bytes, base64url')
  return b
}

export function registerAuthRoutes(app: FastifyInstance, d: AuthDeps): void {
  const { ctx, store } = d

  app.post<{ Body: RegisterRequest }>('/v1/auth/register', {
    schema: { body: obj({ email, authKey, kdf, wrappedMasterKey: b64url(1024) }) },
  }, async (req, reply) => {
    const b = req.body
    const userId = await createAccount(store, { email: b.email, authKey: authKeyBytes(b.authKey), kdf: b.kdf, wrappedMasterKey: b.wrappedMasterKey }, ctx.now())
    return reply.status(201).send({ userId })
  })

  app.get<{ Querystring: { email: string } }>('/v1/auth/params', {
    schema: { querystring: obj({ email }) },
  }, async (req) => {
    const e = checkedEmail(req.query.email)
    const user = store.userByEmail(e)
    return { kdf: user ? user.kdf : decoyKdfParams(ctx.secret, e, defaultKdfParams()) }
  })

  app.post<{ Body: LoginRequest }>('/v1/auth/login', {
    schema: { body: obj({ email, authKey }) },
  }, async (req): Promise<LoginResponse> => {
    const key = authKeyBytes(req.body.authKey)
    const user = store.userByEmail(normaliseEmail(req.body.email))
    // An unknown email costs the same hash as a wrong password, so timing tells nothing.
    const ok = await authKeyMatches(key, user?.authSalt ?? DUMMY_SALT, user?.authHash ?? DUMMY_HASH)
    if (!user || !ok) throw xerr('XC_BAD_CREDENTIALS')
    const session = newSessionSecret()
    const now = ctx.now()
    const expiresAt = now + SESSION_TTL_MS
    store.insertSession(sessionHash(session), user.id, expiresAt, now)
    return { session, userId: user.id, wrappedMasterKey: user.wrappedMasterKey, expiresAt }
  })

  app.post('/v1/auth/logout', { onRequest: d.requireSession }, async (req, reply) => {
    store.deleteSession(sessionHash(bearerOf(req)!))
    return reply.status(204).send()
  })

  app.get('/v1/account', { onRequest: d.requireSession }, async (req): Promise<AccountInfo> => {
    const userId = userOf(req)
    const user = store.userById(userId)
    if (!user) throw xerr('XC_UNAUTHENTICATED')
    const { usedBytes, files } = store.usage(userId)
    let networkCapacity = 0
    let networkFree = 0
    for (const h of store.hostsSeenSince(ctx.now() - ctx.offlineAfterMs)) {
      networkCapacity += h.capacity
      networkFree += Math.max(0, h.capacity - h.used)
    }
    return { userId, email: user.email, usedBytes, files, networkCapacity, networkFree }
  })
}

const DUMMY_SALT = Buffer.alloc(16)
const DUMMY_HASH = Buffer.alloc(32)
