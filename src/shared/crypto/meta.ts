/**
 * Node attributes (mode, mtime, symlink target…): JSON in an AES-256-GCM envelope under metaKey
 * (aead.ts; random nonce per encryption, purpose label 'xcloud/v1/meta'). The decrypted value must
 * be a JSON object.
 */
import { xerr } from '../errors.js'
import { openAead, sealAead } from './aead.js'
import { decodeBase64url } from './encoding.js'
import type { AccountKeys } from './keys.js'

export const META_LABEL = 'xcloud/v1/meta'
/** Largest attribute object, as UTF-8 JSON (a symlink target is at most PATH_MAX = 4096 bytes). */
export const MAX_META_BYTES = 64 * 1024

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** Internal: encryptMeta with a chosen nonce, for reproducing test fixtures only. Not re-exported. */
export function encryptMetaWithNonce(keys: AccountKeys, meta: Record<string, unknown>, nonce: Buffer | undefined): string {
  if (!isPlainObject(meta)) throw xerr('XC_USAGE', 'attributes must be an object')
  let json: Buffer
  try {
    json = Buffer.from(JSON.stringify(meta), 'utf8')
  } catch {
    throw xerr('XC_USAGE', 'attributes must be JSON-serialisable')
  }
  if (json.length > MAX_META_BYTES) throw xerr('XC_USAGE', `attributes are at most ${MAX_META_BYTES} bytes of JSON`)
  return sealAead(keys.metaKey, json, META_LABEL, nonce).toString('base64url')
}

export function encryptMeta(keys: AccountKeys, meta: Record<string, unknown>): string {
  return encryptMetaWithNonce(keys, meta, undefined)
}

export function decryptMeta(keys: AccountKeys, enc: string): Record<string, unknown> {
  const sealed = decodeBase64url(enc, 'XC_DECRYPT', 'encrypted attributes', 2 * MAX_META_BYTES)
  const json = openAead(keys.metaKey, sealed, META_LABEL)
  let value: unknown
  try {
    value = JSON.parse(json.toString('utf8'))
  } catch {
    throw xerr('XC_DECRYPT', 'attributes are not JSON')
  }
  if (!isPlainObject(value)) throw xerr('XC_DECRYPT', 'attributes are not an object')
  return value
}
