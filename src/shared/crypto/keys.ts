/**
 * Account keys: the master key (MK), its recovery phrase, the password KDF, key wrapping, and the
 * keys derived from MK for names and attributes.
 *
 *   password ──scrypt(NFKC, salt, N, r, p)──▶ 64 bytes ──HKDF──▶ authKey      (to the bridge)
 *                                                        └─HKDF──▶ wrappingKey  (wraps MK, stays here)
 *   MK (random 256 bits) ──HKDF──▶ nameKey, nameHashKey, metaKey
 */
import { randomBytes, scrypt } from 'node:crypto'
import { entropyToMnemonic, mnemonicToEntropy } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { xerr } from '../errors.js'
import type { KdfParams } from '../protocol.js'
import { AEAD_OVERHEAD, openAead, sealAead } from './aead.js'
import { HKDF_INFO, hkdf32 } from './derive.js'
import { assertKey, decodeBase64url } from './encoding.js'

export const MASTER_KEY_BYTES = 32

export function generateMasterKey(): Buffer {
  return randomBytes(MASTER_KEY_BYTES)
}

// ---------------------------------------------------------------------------------------------
// Recovery phrase (BIP39, English, 24 words = 256 bits of entropy + 8 checksum bits)

const PHRASE_WORDS = 24

export function masterKeyToPhrase(mk: Buffer): string {
  assertKey(mk, 'master key')
  return entropyToMnemonic(mk, wordlist)
}

/** Accepts any case and any whitespace between words; XC_USAGE for anything that is not a valid phrase. */
export function phraseToMasterKey(phrase: string): Buffer {
  if (typeof phrase !== 'string' || phrase.length > 4096) throw xerr('XC_USAGE', 'a recovery phrase is 24 words')
  const words = phrase.normalize('NFKD').toLowerCase().split(/\s+/).filter((w) => w !== '')
  if (words.length !== PHRASE_WORDS) throw xerr('XC_USAGE', `a recovery phrase is 24 words, got ${words.length}`)
  // Name the position of an unknown word, never the word itself (messages may end up in logs).
  const unknown = words.findIndex((w) => !wordlist.includes(w))
  if (unknown >= 0) throw xerr('XC_USAGE', `word ${unknown + 1} of the recovery phrase is not a BIP39 word`)
  let entropy: Uint8Array
  try {
    entropy = mnemonicToEntropy(words.join(' '), wordlist)
  } catch {
    throw xerr('XC_USAGE', 'the recovery phrase checksum does not match (a word is wrong or out of order)')
  }
  if (entropy.length !== MASTER_KEY_BYTES) throw xerr('XC_USAGE', 'a recovery phrase is 24 words')
  return Buffer.from(entropy)
}

// ---------------------------------------------------------------------------------------------
// Password KDF

export const KDF_LIMITS = { minN: 2 ** 10, maxN: 2 ** 20, maxR: 32, maxP: 16, saltBytes: 16, maxMemory: 2 ** 30 } as const
const DEFAULT_N = 2 ** 17

export function defaultKdfParams(opts?: { N?: number }): KdfParams {
  return validateKdfParams({
    alg: 'scrypt',
    N: opts?.N ?? DEFAULT_N,
    r: 8,
    p: 1,
    salt: randomBytes(KDF_LIMITS.saltBytes).toString('base64url'),
  })
}

function isIntIn(x: unknown, min: number, max: number): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= min && x <= max
}

/**
 * KDF parameters arrive from the bridge (or a client's register request), so they are untrusted:
 * bounds keep a hostile bridge from making a client spend unbounded memory, or from choosing a
 * trivially weak cost. Returns a fresh object with only the known fields.
 */
export function validateKdfParams(kdf: unknown): KdfParams {
  const bad = (why: string) => xerr('XC_BAD_REQUEST', `invalid KDF parameters: ${why}`)
  if (typeof kdf !== 'object' || kdf === null || Array.isArray(kdf)) throw bad('not an object')
  const { alg, N, r, p, salt } = kdf as Record<string, unknown>
  if (alg !== 'scrypt') throw bad('alg must be scrypt')
  if (!isIntIn(N, KDF_LIMITS.minN, KDF_LIMITS.maxN) || (N & (N - 1)) !== 0) throw bad('N must be a power of two in [2^10, 2^20]')
  if (!isIntIn(r, 1, KDF_LIMITS.maxR)) throw bad('r must be 1..32')
  if (!isIntIn(p, 1, KDF_LIMITS.maxP)) throw bad('p must be 1..16')
  // A hostile bridge must not make a client allocate more than 1 GiB for scrypt.
  if (128 * N * r > KDF_LIMITS.maxMemory) throw bad('128·N·r must be at most 1 GiB')
  const saltBytes = decodeBase64url(salt, 'XC_BAD_REQUEST', 'salt', 64)
  if (saltBytes.length !== KDF_LIMITS.saltBytes) throw bad('salt must be 16 bytes')
  return { alg: 'scrypt', N, r, p, salt: salt as string }
}

export async function derivePasswordKeys(password: string, kdf: KdfParams): Promise<{ authKey: Buffer; wrappingKey: Buffer }> {
  if (typeof password !== 'string') throw xerr('XC_USAGE', 'password must be a string')
  const { N, r, p, salt } = validateKdfParams(kdf)
  // NFKC so that the same password typed on different keyboards/OSes gives the same keys.
  const pw = Buffer.from(password.normalize('NFKC'), 'utf8')
  // OpenSSL needs 128·r·(N + p + 2) bytes; maxmem is a ceiling, not an allocation.
  const maxmem = 128 * r * (N + p + 2) + 1024 * 1024
  const out = await new Promise<Buffer>((resolve, reject) => {
    scrypt(pw, Buffer.from(salt, 'base64url'), 64, { N, r, p, maxmem }, (err, key) => (err ? reject(xerr('XC_INTERNAL', `scrypt: ${err.message}`)) : resolve(key)))
  })
  return { authKey: hkdf32(out, HKDF_INFO.authKey), wrappingKey: hkdf32(out, HKDF_INFO.wrappingKey) }
}

// ---------------------------------------------------------------------------------------------
// Key wrapping (AES-256-GCM envelope, see aead.ts for why nonces are unique). `aad` names what is
// wrapped (the master key, a file key…) so that one wrapped key cannot stand in for another kind.

const WRAP_LABEL_PREFIX = 'xcloud/v1/key-wrap/'
const MIN_WRAPPED_KEY = 16
const MAX_WRAPPED_KEY = 64

/** Internal: wrapKey with a chosen nonce, for reproducing test fixtures only. Not re-exported. */
export function wrapKeyWithNonce(kek: Buffer, key: Buffer, aad: string, nonce: Buffer | undefined): string {
  assertKey(kek, 'key-wrapping key')
  if (!Buffer.isBuffer(key) || key.length < MIN_WRAPPED_KEY || key.length > MAX_WRAPPED_KEY) {
    throw xerr('XC_INTERNAL', 'a wrapped key is 16..64 bytes')
  }
  if (typeof aad !== 'string') throw xerr('XC_INTERNAL', 'aad must be a string')
  return sealAead(kek, key, WRAP_LABEL_PREFIX + aad, nonce).toString('base64url')
}

export function wrapKey(kek: Buffer, key: Buffer, aad: string): string {
  return wrapKeyWithNonce(kek, key, aad, undefined)
}

export function unwrapKey(kek: Buffer, wrapped: string, aad: string): Buffer {
  assertKey(kek, 'key-wrapping key')
  if (typeof aad !== 'string') throw xerr('XC_INTERNAL', 'aad must be a string')
  const sealed = decodeBase64url(wrapped, 'XC_DECRYPT', 'wrapped key', 256)
  const keyLen = sealed.length - AEAD_OVERHEAD
  if (keyLen < MIN_WRAPPED_KEY || keyLen > MAX_WRAPPED_KEY) throw xerr('XC_DECRYPT')
  return openAead(kek, sealed, WRAP_LABEL_PREFIX + aad)
}

// ---------------------------------------------------------------------------------------------
// Keys derived from the master key

export interface AccountKeys {
  nameKey: Buffer
  nameHashKey: Buffer
  metaKey: Buffer
  /** Wraps file keys, so the master key itself only ever feeds HKDF. */
  fileWrapKey: Buffer
}

export function deriveAccountKeys(mk: Buffer): AccountKeys {
  assertKey(mk, 'master key')
  return {
    nameKey: hkdf32(mk, HKDF_INFO.nameKey),
    nameHashKey: hkdf32(mk, HKDF_INFO.nameHashKey),
    metaKey: hkdf32(mk, HKDF_INFO.metaKey),
    fileWrapKey: hkdf32(mk, HKDF_INFO.fileWrapKey),
  }
}
