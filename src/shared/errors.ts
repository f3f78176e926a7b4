/**
 * The one error table of X Cloud.
 *
 * Every failure that crosses a boundary (HTTP, CLI exit, FUSE errno) carries a stable `XC_…` code
 * from this table. Each code decides, once, whether a retry can help (`retryable`) and which HTTP
 * status it maps to; callers never re-decide either. Retry loops consult `isRetryable`, nothing
 * else. `test/shared/errors.test.ts` checks the table's invariants.
 */

export interface ErrorSpec {
  /** HTTP status the servers answer with. */
  readonly status: number
  /** Whether trying the same request again (later, or at another mirror) can succeed. */
  readonly retryable: boolean
  /** Default human message. */
  readonly message: string
}

export const ERRORS = {
  // Input and protocol
  XC_BAD_REQUEST: { status: 400, retryable: false, message: 'malformed request' },
  XC_BAD_JSON: { status: 400, retryable: false, message: 'request body is not valid JSON' },
  XC_BAD_HASH: { status: 400, retryable: false, message: 'a shard hash is 64 lowercase hex characters' },
  XC_BAD_RANGE: { status: 416, retryable: false, message: 'requested range is not satisfiable' },
  XC_BODY_TOO_LARGE: { status: 413, retryable: false, message: 'request body too large' },
  XC_LENGTH_REQUIRED: { status: 411, retryable: false, message: 'Content-Length is required' },
  XC_UNSUPPORTED_MEDIA: { status: 415, retryable: false, message: 'unsupported content type' },
  XC_NOT_FOUND: { status: 404, retryable: false, message: 'not found' },
  XC_ROUTE_NOT_FOUND: { status: 404, retryable: false, message: 'no such endpoint' },
  XC_METHOD_NOT_ALLOWED: { status: 405, retryable: false, message: 'method not allowed' },

  // Authentication and authorisation
  XC_UNAUTHENTICATED: { status: 401, retryable: false, message: 'missing or invalid session' },
  XC_BAD_CREDENTIALS: { status: 401, retryable: false, message: 'wrong email or password' },
  XC_FORBIDDEN: { status: 403, retryable: false, message: 'not allowed' },
  XC_TOKEN_MISSING: { status: 401, retryable: false, message: 'transfer token missing' },
  XC_TOKEN_INVALID: { status: 401, retryable: false, message: 'transfer token malformed or forged' },
  XC_TOKEN_EXPIRED: { status: 401, retryable: false, message: 'transfer token expired' },
  XC_TOKEN_SCOPE: { status: 403, retryable: false, message: 'transfer token is for another shard, host or operation' },
  XC_HOST_SIGNATURE: { status: 401, retryable: false, message: 'host request signature invalid' },
  XC_EMAIL_TAKEN: { status: 409, retryable: false, message: 'an account with this email exists' },
  XC_ORDER_INVALID: { status: 401, retryable: false, message: 'order malformed or not signed by the bridge' },
  XC_ORDER_EXPIRED: { status: 401, retryable: false, message: 'order expired' },
  XC_ORDER_SCOPE: { status: 403, retryable: false, message: 'order is for another host' },
  XC_ORDER_REPLAYED: { status: 409, retryable: false, message: 'order already carried out (replayed)' },
  XC_HOST_STATE: { status: 409, retryable: false, message: 'the host is not in a state that allows this' },

  // Tree and versions
  XC_EXISTS: { status: 409, retryable: false, message: 'name exists' },
  XC_NOT_DIR: { status: 409, retryable: false, message: 'not a directory' },
  XC_IS_DIR: { status: 409, retryable: false, message: 'is a directory' },
  XC_NOT_EMPTY: { status: 409, retryable: false, message: 'directory not empty' },
  XC_CONFLICT: { status: 409, retryable: false, message: 'changed concurrently (compare-and-swap failed)' },
  XC_INVALID_MOVE: { status: 409, retryable: false, message: 'cannot move a directory into itself' },
  XC_UPLOAD_INCOMPLETE: { status: 409, retryable: false, message: 'upload is missing shard receipts' },
  XC_UPLOAD_EXPIRED: { status: 410, retryable: false, message: 'upload session expired' },

  // Storage and capacity
  XC_HASH_MISMATCH: { status: 422, retryable: true, message: 'shard bytes do not match their hash' },
  XC_SIZE_MISMATCH: { status: 422, retryable: true, message: 'shard size does not match' },
  XC_CAPACITY: { status: 507, retryable: false, message: 'host capacity exceeded' },
  XC_NOT_ENOUGH_HOSTS: { status: 503, retryable: true, message: 'not enough eligible hosts for placement' },
  XC_REGION: { status: 503, retryable: false, message: 'too few eligible hosts in the regions this account is limited to' },
  XC_OFF_SCHEDULE: { status: 503, retryable: true, message: 'the host is outside its online hours' },

  // Transport and availability
  XC_HOST_UNREACHABLE: { status: 502, retryable: true, message: 'host unreachable' },
  XC_TIMEOUT: { status: 504, retryable: true, message: 'timed out' },
  XC_TLS_PIN: { status: 502, retryable: true, message: 'host certificate does not match the pinned fingerprint' },
  XC_UNAVAILABLE: { status: 503, retryable: true, message: 'service unavailable' },
  XC_ALL_MIRRORS_FAILED: { status: 502, retryable: true, message: 'no mirror returned valid bytes for a shard' },

  // Client-side integrity
  XC_MANIFEST_INVALID: { status: 422, retryable: false, message: 'manifest authentication failed' },
  XC_DECRYPT: { status: 422, retryable: false, message: 'decryption failed (wrong key or tampered data)' },
  XC_FORMAT: { status: 422, retryable: false, message: 'unsupported or corrupt format' },

  // Local use
  XC_USAGE: { status: 400, retryable: false, message: 'invalid arguments' },
  XC_NOT_LOGGED_IN: { status: 401, retryable: false, message: 'not logged in: run `xcloud login`' },
  XC_CONFIG: { status: 400, retryable: false, message: 'invalid configuration' },
  XC_LOCAL_IO: { status: 500, retryable: false, message: 'local I/O error' },
  XC_MOUNT: { status: 500, retryable: false, message: 'mount failed' },
  XC_FUSE_MISSING: { status: 500, retryable: false, message: 'FUSE (libfuse 2, /dev/fuse) is not available on this machine' },
  XC_INTERNAL: { status: 500, retryable: false, message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, code)
}

/** The one error class; `code` is always a key of ERRORS. */
export class XError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly retryable: boolean
  readonly details?: Record<string, unknown>

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    const spec = ERRORS[code]
    super(message ?? spec.message, options)
    this.name = 'XError'
    this.code = code
    this.status = spec.status
    this.retryable = spec.retryable
    if (details) this.details = details
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } }
  }
}

export function xerr(code: ErrorCode, message?: string, details?: Record<string, unknown>): XError {
  return new XError(code, message, details)
}

/** Whether an error (ours or a network one) may succeed on retry. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof XError) return err.retryable
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && NET_RETRYABLE.has(code)
}

const NET_RETRYABLE = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE'])

/** Rebuild an XError from a server's JSON error body (unknown codes become XC_INTERNAL). */
export function fromWire(status: number, body: unknown): XError {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error
  if (e && isErrorCode(e.code)) {
    const details = typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : undefined
    return new XError(e.code, typeof e.message === 'string' ? e.message : undefined, details)
  }
  if (status === 503) return new XError('XC_UNAVAILABLE', `server answered ${status}`)
  if (status >= 500) return new XError('XC_HOST_UNREACHABLE', `server answered ${status}`)
  return new XError('XC_BAD_REQUEST', `server answered ${status}`)
}

/** Map any thrown value to an XError, keeping XErrors as they are. */
export function toXError(err: unknown): XError {
  if (err instanceof XError) return err
  const code = (err as { code?: unknown } | null)?.code
  if (code === 'ETIMEDOUT' || code === 'ERR_TIMEOUT') return new XError('XC_TIMEOUT', undefined, undefined, { cause: err })
  if (typeof code === 'string' && NET_RETRYABLE.has(code)) {
    return new XError('XC_HOST_UNREACHABLE', `${code}: ${(err as Error).message}`, undefined, { cause: err })
  }
  return new XError('XC_INTERNAL', err instanceof Error ? err.message : String(err), undefined, { cause: err })
}
