/**
 * JSON-schema pieces every route is built from. Bodies are validated strictly (no coercion, no
 * unknown properties); query strings and params are strings matched by pattern and converted by
 * the handler, so a wrong type is always a 400 and never a guess.
 */
import { xerr } from '../../shared/errors.js'
import { ID_PATTERN } from '../ids.js'

export const HASH_PATTERN = '^[0-9a-f]{64}$'

export const hash = { type: 'string', pattern: HASH_PATTERN } as const
export const id = { type: 'string', pattern: ID_PATTERN } as const
export const hostId = hash

export function b64url(maxLength: number, minLength = 1) {
  return { type: 'string', minLength, maxLength, pattern: '^[A-Za-z0-9_-]*$' } as const
}

export function uint(maximum: number = Number.MAX_SAFE_INTEGER, minimum = 0) {
  return { type: 'integer', minimum, maximum } as const
}

export function str(maxLength: number, minLength = 0) {
  return { type: 'string', minLength, maxLength } as const
}

export function nullable<S extends object>(s: S) {
  return { anyOf: [s, { type: 'null' }] } as const
}

/** An object with exactly these properties; `required` defaults to all of them. */
export function obj(properties: Record<string, object>, required: readonly string[] = Object.keys(properties)) {
  return { type: 'object', additionalProperties: false, properties, required } as const
}

/** A decimal integer carried in a query string. */
export const queryInt = { type: 'string', pattern: '^[0-9]{1,15}$' } as const

export const idParams = obj({ id })

export function intQuery(v: string | undefined, fallback: number): number {
  return v === undefined ? fallback : Number(v)
}

interface AjvError {
  instancePath?: string
  keyword?: string
  message?: string
  params?: { pattern?: string }
}

/** Validation failures become XErrors: hashes get XC_BAD_HASH, everything else XC_BAD_REQUEST. */
export function schemaErrorFormatter(errors: AjvError[], dataVar: string): Error {
  const e = errors[0]
  const where = `${dataVar}${e?.instancePath ?? ''}`
  const message = `${where} ${e?.message ?? 'is invalid'}`
  if (e?.keyword === 'pattern' && e.params?.pattern === HASH_PATTERN) return xerr('XC_BAD_HASH', `${where}: a shard hash is 64 lowercase hex characters`)
  return xerr('XC_BAD_REQUEST', message)
}
