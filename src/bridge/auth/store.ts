import type { KdfParams } from '../../shared/protocol.js'

export interface UserRecord {
  id: string
  /** Normalised (trimmed, lowercase). */
  email: string
  /** scrypt(authKey, authSalt): the bridge never stores the auth key itself. */
  authHash: Buffer
  authSalt: Buffer
  kdf: KdfParams
  wrappedMasterKey: string
  createdAt: number
  /** Regions this account's shards must stay in; null = anywhere. */
  regions?: string[] | null
}

export interface UserStore {
  insertUser(user: UserRecord): void
  userByEmail(email: string): UserRecord | undefined
  userById(id: string): UserRecord | undefined
  setUserRegions(userId: string, regions: string[] | null): void
}

export interface SessionStore {
  /** Sessions are kept by the SHA-256 of the bearer secret only. */
  insertSession(tokenHash: Buffer, userId: string, expiresAt: number, now: number): void
  /** The user of a live session, or undefined when unknown or expired. */
  sessionUser(tokenHash: Buffer, now: number): string | undefined
  deleteSession(tokenHash: Buffer): void
}
