import type { KdfParams } from '../../../shared/protocol.js'
import type { SessionStore, UserRecord, UserStore } from '../../auth/store.js'
import type { Db } from './db.js'

interface UserRow {
  id: string
  email: string
  auth_hash: Buffer
  auth_salt: Buffer
  kdf: string
  wrapped_mk: string
  created_at: number
  regions: string | null
}

function toUser(r: UserRow | undefined): UserRecord | undefined {
  if (!r) return undefined
  return {
    id: r.id, email: r.email, authHash: r.auth_hash, authSalt: r.auth_salt, kdf: JSON.parse(r.kdf) as KdfParams,
    wrappedMasterKey: r.wrapped_mk, createdAt: r.created_at,
    regions: r.regions === null ? null : (JSON.parse(r.regions) as string[]),
  }
}

export function sqliteUsers(db: Db): UserStore & SessionStore {
  const insertUser = db.prepare('INSERT INTO users (id, email, auth_hash, auth_salt, kdf, wrapped_mk, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
  const byEmail = db.prepare<[string], UserRow>('SELECT * FROM users WHERE email = ?')
  const byId = db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?')
  const insertSession = db.prepare('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)')
  const sessionUser = db.prepare<[Buffer, number], { user_id: string }>('SELECT user_id FROM sessions WHERE token_hash = ? AND expires_at > ?')
  const deleteSession = db.prepare('DELETE FROM sessions WHERE token_hash = ?')
  const deleteExpired = db.prepare('DELETE FROM sessions WHERE expires_at <= ?')
  const setRegions = db.prepare('UPDATE users SET regions = ? WHERE id = ?')
  return {
    setUserRegions(userId, regions) {
      setRegions.run(regions === null ? null : JSON.stringify(regions), userId)
    },
    insertUser(u) {
      insertUser.run(u.id, u.email, u.authHash, u.authSalt, JSON.stringify(u.kdf), u.wrappedMasterKey, u.createdAt)
    },
    userByEmail: (email) => toUser(byEmail.get(email)),
    userById: (id) => toUser(byId.get(id)),
    insertSession(hash, userId, expiresAt, now) {
      // Sweeping expired sessions on each login keeps the table at the live ones.
      deleteExpired.run(now)
      insertSession.run(hash, userId, now, expiresAt)
    },
    sessionUser: (hash, now) => sessionUser.get(hash, now)?.user_id,
    deleteSession(hash) {
      deleteSession.run(hash)
    },
  }
}
