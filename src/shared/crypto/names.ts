/**
 * Node names. The bridge sees two things per name, neither readable:
 *
 * - `encName`: the AES-256-GCM envelope (aead.ts; random nonce per encryption) of the name, padded
 *   to a multiple of 32 bytes so that ciphertext length shows only a coarse length class. Padding
 *   is ISO/IEC 7816-4: 0x80 then zero bytes. The name is kept exactly as given (not normalised), so
 *   a listing shows what the user typed.
 * - `nameHash`: HMAC-SHA256(nameHashKey, parentId ‖ 0x00 ‖ NFC(name)), so the bridge can enforce
 *   one name per folder (NFC: `é` typed on macOS or Linux is the same name) and look names up,
 *   without learning anything else (equal names in different folders hash differently).
 */
import { createHmac } from 'node:crypto'
import { xerr } from '../errors.js'
import { openAead, sealAead } from './aead.js'
import { decodeBase64url } from './encoding.js'
import type { AccountKeys } from './keys.js'

export const NAME_LABEL = 'xcloud/v1/name'
/** Longest name, in UTF-8 bytes, that encryptName accepts (POSIX allows 255). */
export const MAX_NAME_BYTES = 1024
const PAD_BLOCK = 32

function utf8Exact(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  // A lone surrogate would silently become U+FFFD and not round-trip.
  if (bytes.toString('utf8') !== text) throw xerr('XC_USAGE', 'name is not valid Unicode')
  return bytes
}

function pad(bytes: Buffer): Buffer {
  const total = Math.ceil((bytes.length + 1) / PAD_BLOCK) * PAD_BLOCK
  const out = Buffer.alloc(total)
  bytes.copy(out)
  out[bytes.length] = 0x80
  return out
}

function unpad(padded: Buffer): Buffer | undefined {
  if (padded.length === 0 || padded.length % PAD_BLOCK !== 0) return undefined
  let end = padded.length - 1
  while (end >= 0 && padded[end] === 0) end--
  return end >= 0 && padded[end] === 0x80 && padded.length - end <= PAD_BLOCK ? padded.subarray(0, end) : undefined
}

/** Internal: encryptName with a chosen nonce, for reproducing test fixtures only. Not re-exported. */
export function encryptNameWithNonce(keys: AccountKeys, name: string, nonce: Buffer | undefined): string {
  if (typeof name !== 'string') throw xerr('XC_USAGE', 'name must be a string')
  const bytes = utf8Exact(name)
  if (bytes.length > MAX_NAME_BYTES) throw xerr('XC_USAGE', `a name is at most ${MAX_NAME_BYTES} bytes`)
  return sealAead(keys.nameKey, pad(bytes), NAME_LABEL, nonce).toString('base64url')
}

export function encryptName(keys: AccountKeys, name: string): string {
  return encryptNameWithNonce(keys, name, undefined)
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true })

export function decryptName(keys: AccountKeys, enc: string): string {
  const sealed = decodeBase64url(enc, 'XC_DECRYPT', 'encrypted name', 4 * MAX_NAME_BYTES)
  const name = unpad(openAead(keys.nameKey, sealed, NAME_LABEL))
  if (!name) throw xerr('XC_DECRYPT', 'bad name padding')
  try {
    return utf8Strict.decode(name)
  } catch {
    throw xerr('XC_DECRYPT', 'name is not UTF-8')
  }
}

export function nameHash(keys: AccountKeys, parentId: string, name: string): string {
  if (typeof parentId !== 'string' || parentId.includes('\0')) throw xerr('XC_USAGE', 'parentId must be a string without NUL')
  if (typeof name !== 'string') throw xerr('XC_USAGE', 'name must be a string')
  return createHmac('sha256', keys.nameHashKey)
    .update(Buffer.from(parentId, 'utf8'))
    .update(Buffer.from([0]))
    .update(utf8Exact(name.normalize('NFC')))
    .digest('hex')
}
