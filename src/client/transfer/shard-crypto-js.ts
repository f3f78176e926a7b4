/**
 * The crypto worker's shard crypto in Node's own crypto, for when the addon's one-pass functions
 * (`xc_seal_many`, `xc_hash_ctr`) are not there: fuse-native's prebuilt addon, no compiler at install.
 * Same results, bit for bit: tests hold both to the inline functions of shared/crypto.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto'
import { ctrInto } from '../../shared/crypto/content.js'

/**
 * Encrypt `plain` into `out` (AES-256-CTR), then hash the ciphertext and each salt ‖ ciphertext.
 * Returns hex digests: the shard hash, then one challenge per salt.
 */
export function sealJs(key: Uint8Array, iv: Uint8Array, plain: Buffer, out: Buffer, salts: readonly Uint8Array[]): { hash: string; digests: string[] } {
  const cipher = createCipheriv('aes-256-ctr', key, iv)
  ctrInto(cipher, plain, out)
  cipher.final()
  const hash = createHash('sha256').update(out).digest('hex')
  return { hash, digests: salts.map((salt) => createHash('sha256').update(salt).update(out).digest('hex')) }
}

/**
 * True when `data` hashes to `hash`, and then `data` is decrypted in place; false on a mismatch,
 * and then `data` is untouched (nothing unverified is ever decrypted).
 */
export function verifyDecryptJs(key: Uint8Array, iv: Uint8Array, data: Buffer, hash: string): boolean {
  if (createHash('sha256').update(data).digest('hex') !== hash) return false
  const d = createDecipheriv('aes-256-ctr', key, iv)
  // CTR has no padding: update() returns every byte and final() none. Each piece is copied back
  // over the ciphertext it came from.
  ctrInto(d, data, data)
  d.final()
  return true
}
