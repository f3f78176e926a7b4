/**
 * The secrets of authentication: slow hashes of auth keys, bearer sessions, and decoy KDF
 * parameters for emails that have no account.
 *
 * The auth key a client sends is already the output of a memory-hard KDF over the password, so it
 * is high-entropy; the bridge still stores only scrypt(authKey, per-user salt) so a stolen database
 * does not let anyone log in. Sessions are 32 random bytes; only their SHA-256 is stored.
 */
import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import type { KdfParams } from '../../shared/protocol.js'

const AUTH_HASH_PARAMS = { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
const AUTH_HASH_LEN = 32

export const SESSION_TTL_MS = 30 * 24 * 3600_000

export function hashAuthKey(authKey: Buffer, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(authKey, salt, AUTH_HASH_LEN, AUTH_HASH_PARAMS, (err, out) => (err ? reject(err) : resolve(out)))
  })
}

export function newAuthSalt(): Buffer {
  return randomBytes(16)
}

export async function authKeyMatches(authKey: Buffer, salt: Buffer, stored: Buffer): Promise<boolean> {
  const h = await hashAuthKey(authKey, salt)
  return h.length === stored.length && timingSafeEqual(h, stored)
}

export function newSessionSecret(): string {
  return randomBytes(32).toString('base64url')
}

export function sessionHash(secret: string): Buffer {
  return createHash('sha256').update(secret).digest()
}

/**
 * KDF parameters answered for an email without an account: the client defaults with a salt that
 * is a keyed function of the email, so asking twice gives the same answer and an unknown email
 * looks like any other account.
 */
export function decoyKdfParams(serverSecret: Buffer, email: string, defaults: KdfParams): KdfParams {
  const salt = createHmac('sha256', serverSecret).update(`xc-decoy-salt-v1\n${email}`).digest().subarray(0, 16)
  return { alg: 'scrypt', N: defaults.N, r: defaults.r, p: defaults.p, salt: salt.toString('base64url') }
}

/** Emails are compared trimmed and lowercase. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase()
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export function isValidEmail(email: string): boolean {
  return email.length <= 254 && EMAIL_RE.test(email)
}
