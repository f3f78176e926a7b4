/**
 * Bearer sessions on requests. Protected routes run `requireSession` on request (before the body
 * is even parsed), and handlers read the user with `userOf`. Every storage call after that is
 * scoped to that user.
 */
import type { FastifyRequest } from 'fastify'
import { xerr } from '../../shared/errors.js'
import { sessionHash } from './secrets.js'
import type { SessionStore } from './store.js'

const users = new WeakMap<FastifyRequest, string>()

export function bearerOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization
  const m = typeof h === 'string' ? /^Bearer ([A-Za-z0-9_-]{20,100})$/.exec(h) : null
  return m ? m[1] : undefined
}

export type SessionHook = (req: FastifyRequest) => Promise<void>

export function sessionGuard(sessions: Pick<SessionStore, 'sessionUser'>, now: () => number): SessionHook {
  return async function requireSession(req: FastifyRequest): Promise<void> {
    const token = bearerOf(req)
    const userId = token === undefined ? undefined : sessions.sessionUser(sessionHash(token), now())
    if (!userId) throw xerr('XC_UNAUTHENTICATED')
    users.set(req, userId)
  }
}

export function userOf(req: FastifyRequest): string {
  const u = users.get(req)
  if (!u) throw xerr('XC_UNAUTHENTICATED')
  return u
}
