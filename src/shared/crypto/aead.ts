/**
 * The one AES-256-GCM envelope of format v1, used for wrapped keys, names and attributes:
 *
 *   version byte (1) ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag
 *
 * The GCM additional data is the version byte followed by a purpose label, so an envelope made for
 * one purpose (a name, a wrapped master key…) never opens as another, and the version byte cannot
 * be changed without failing the tag.
 *
 * Nonces are 96 random bits from the OS CSPRNG, drawn per envelope. Each key seals few envelopes
 * over its life (a master key is wrapped a handful of times, an account names far fewer than 2^32
 * nodes), so a repeated (key, nonce) pair has negligible probability: well inside NIST SP 800-38D's
 * 2^32-invocation bound for random nonces.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { xerr } from '../errors.js'

export const AEAD_VERSION = 1
export const AEAD_NONCE_BYTES = 12
export const AEAD_TAG_BYTES = 16
/** Bytes an envelope adds to its plaintext. */
export const AEAD_OVERHEAD = 1 + AEAD_NONCE_BYTES + AEAD_TAG_BYTES

function additionalData(label: string): Buffer {
  return Buffer.concat([Buffer.from([AEAD_VERSION]), Buffer.from(label, 'utf8')])
}

/**
 * Seal `plaintext` under `key` for the purpose `label`.
 *
 * `nonce` exists ONLY so test fixtures can be reproduced byte for byte; production callers never
 * pass it, and the public wrappers (wrapKey, encryptName, encryptMeta) do not expose it.
 */
export function sealAead(key: Buffer, plaintext: Buffer, label: string, nonce?: Buffer): Buffer {
  const n = nonce ?? randomBytes(AEAD_NONCE_BYTES)
  if (n.length !== AEAD_NONCE_BYTES) throw xerr('XC_INTERNAL', 'a GCM nonce is 12 bytes')
  const cipher = createCipheriv('aes-256-gcm', key, n, { authTagLength: AEAD_TAG_BYTES })
  cipher.setAAD(additionalData(label))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([Buffer.from([AEAD_VERSION]), n, body, cipher.getAuthTag()])
}

/** Open an envelope; any failure (length, version, tag, wrong key or label) is XC_DECRYPT. */
export function openAead(key: Buffer, sealed: Buffer, label: string): Buffer {
  if (sealed.length < AEAD_OVERHEAD || sealed[0] !== AEAD_VERSION) throw xerr('XC_DECRYPT')
  const nonce = sealed.subarray(1, 1 + AEAD_NONCE_BYTES)
  const body = sealed.subarray(1 + AEAD_NONCE_BYTES, sealed.length - AEAD_TAG_BYTES)
  const tag = sealed.subarray(sealed.length - AEAD_TAG_BYTES)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: AEAD_TAG_BYTES })
    decipher.setAAD(additionalData(label))
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(body), decipher.final()])
  } catch {
    throw xerr('XC_DECRYPT')
  }
}
