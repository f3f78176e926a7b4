/**
 * Client-side cryptography of format v1. Everything here runs on the user's devices; the bridge and
 * hosts only ever see what these functions output.
 *
 * Words:
 * - **master key (MK)**: random 256 bits per account; its **recovery phrase** is the BIP39 24-word
 *   encoding. The bridge stores MK only **wrapped** (AES-256-GCM) by the password's wrapping key.
 * - **password keys**: scrypt (per-user salt, NFKC password) → HKDF → an **auth key** (sent to the
 *   bridge, which keeps a slow hash) and a **wrapping key** (never leaves the device).
 * - **account keys**: HKDF from MK → name key, name-hash key, attribute (meta) key.
 * - **file key**: random 256 bits per file version, stored wrapped by MK. **Shard** i of a version is
 *   AES-256-CTR under the file key with its own random 128-bit IV; its **hash** is the SHA-256 of
 *   the ciphertext.
 * - **manifest**: size, shard size and per shard {index, size, iv, hash}, msgpack with an HMAC keyed
 *   from the file key; checked before anything the bridge or a host says is trusted.
 *
 * Invariants:
 * - A (key, IV/nonce) pair never encrypts two different byte strings: keys are per account or per
 *   file version, and every IV/nonce is fresh CSPRNG output (content.ts, aead.ts say why that is
 *   enough).
 * - Every derived key has its own HKDF label (derive.ts); every GCM envelope binds a purpose label
 *   and the format version in its additional data.
 * - Untrusted input (wrapped keys, manifests, names, attributes, KDF parameters, phrases) never
 *   crashes: it yields an XError with a stable code (XC_DECRYPT, XC_MANIFEST_INVALID,
 *   XC_BAD_REQUEST, XC_USAGE). A key of the wrong length is a bug: XC_INTERNAL.
 * - Every format is frozen by test/fixtures/v1; changing bytes means a new format version.
 */
export {
  MASTER_KEY_BYTES,
  KDF_LIMITS,
  generateMasterKey,
  masterKeyToPhrase,
  phraseToMasterKey,
  defaultKdfParams,
  validateKdfParams,
  derivePasswordKeys,
  wrapKey,
  unwrapKey,
  deriveAccountKeys,
  type AccountKeys,
} from './keys.js'
export { FILE_KEY_BYTES, SHARD_IV_BYTES, generateFileKey, encryptShard, decryptShard, sha256Hex, type EncryptedShard } from './content.js'
export { sealManifest, openManifest, type Manifest, type ManifestShard } from './manifest.js'
export { MAX_NAME_BYTES, encryptName, decryptName, nameHash } from './names.js'
export { MAX_META_BYTES, encryptMeta, decryptMeta } from './meta.js'
