/**
 * The addon's one-pass shard verification (native-deps/attr-cache.c, `xc_hash_ctr`), shared by
 * the crypto worker and the fetcher's inline path. The addon is loaded at the first call, not at
 * import, so commands that never verify a shard never load it.
 */
import { binding } from '../fuse/native-addon.js'

const digest = Buffer.alloc(32)

/**
 * Hash `data` and decrypt it in place (AES-256-CTR), each 64 KiB piece hashed before it is
 * decrypted. True when the ciphertext hashed to `hash`; false on a mismatch (then `data` holds
 * garbage, to be thrown away); null when the addon is not there (then `data` is untouched).
 */
export function verifyDecryptInPlace(key: Uint8Array, iv: Uint8Array, data: Buffer, hash: string): boolean | null {
  const hashCtr = binding()?.xc_hash_ctr
  if (!hashCtr) return null
  hashCtr(key, iv, data, data, digest)
  return digest.toString('hex') === hash
}
