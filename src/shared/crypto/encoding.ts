/** Strict byte encodings shared by the crypto modules. */
import { xerr, type ErrorCode } from '../errors.js'

const BASE64URL_RE = /^[A-Za-z0-9_-]*$/

/**
 * Decode base64url without padding, rejecting anything that would not re-encode to the same text.
 * (Buffer.from silently skips invalid characters, which would let two strings mean one value.)
 */
export function decodeBase64url(text: unknown, code: ErrorCode, what: string, maxChars = 1 << 20): Buffer {
  if (typeof text !== 'string' || text.length > maxChars || !BASE64URL_RE.test(text)) {
    throw xerr(code, `${what} is not base64url`)
  }
  const bytes = Buffer.from(text, 'base64url')
  if (bytes.toString('base64url') !== text) throw xerr(code, `${what} is not canonical base64url`)
  return bytes
}

/** A programming error, not bad data: a key of the wrong type or length reached a crypto call. */
export function assertKey(key: unknown, what: string): asserts key is Buffer {
  if (!Buffer.isBuffer(key) || key.length !== 32) throw xerr('XC_INTERNAL', `${what} must be a 32-byte Buffer`)
}
