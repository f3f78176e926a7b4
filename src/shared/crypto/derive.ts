/**
 * Key derivation labels and HKDF. Every derived key of format v1 has its own HKDF info label, listed
 * here in one place so that domain separation can be reviewed at a glance: no two purposes share a
 * label, and no label is ever reused for a different key length or algorithm.
 */
import { hkdfSync } from 'node:crypto'

export const HKDF_INFO = {
  /** Password → key the bridge verifies (it stores only a slow hash of it). */
  authKey: 'xcloud/v1/password/auth-key',
  /** Password → key that wraps the master key; never leaves the device. */
  wrappingKey: 'xcloud/v1/password/wrapping-key',
  /** Master key → AES-256-GCM key for node names. */
  nameKey: 'xcloud/v1/account/name-key',
  /** Master key → HMAC-SHA256 key for per-folder name hashes. */
  nameHashKey: 'xcloud/v1/account/name-hash-key',
  /** Master key → AES-256-GCM key for node attributes. */
  metaKey: 'xcloud/v1/account/meta-key',
  /** Master key → AES-256-GCM key that wraps each version's file key. */
  fileWrapKey: 'xcloud/v1/account/file-wrap-key',
  /** File key → HMAC-SHA256 key that authenticates the manifest. */
  manifestMac: 'xcloud/v1/file/manifest-mac',
} as const

/**
 * HKDF-SHA256 with an empty salt (the input is already uniformly random or the output of scrypt,
 * so extraction needs no salt) and the given info label.
 */
export function hkdf32(ikm: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), Buffer.from(info, 'utf8'), 32))
}
