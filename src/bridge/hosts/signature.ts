/**
 * Host-signed requests (announce, heartbeat): the signature covers method, path, timestamp and the
 * exact body bytes, so a request cannot be altered or replayed long after it was made.
 */
import { xerr } from '../../shared/errors.js'
import { HOST_SIG_HEADERS, HOST_SIG_SKEW_MS, hostRequestBytes, publicKeyObject, verifyBytes } from '../../shared/tokens.js'

export interface SignedRequestParts {
  method: string
  /** URL path without the query. */
  path: string
  headers: Record<string, string | string[] | undefined>
  rawBody: Buffer
}

function header(h: SignedRequestParts['headers'], name: string): string | undefined {
  const v = h[name]
  return typeof v === 'string' ? v : undefined
}

/** The host id the request claims (not yet proven). */
export function claimedHostId(req: SignedRequestParts): string {
  const id = header(req.headers, HOST_SIG_HEADERS.id)
  if (!id || !/^[0-9a-f]{64}$/.test(id)) throw xerr('XC_HOST_SIGNATURE', `missing or malformed ${HOST_SIG_HEADERS.id} header`)
  return id
}

/** Throws XC_HOST_SIGNATURE unless `publicKey` signed this request within the allowed clock skew. */
export function verifyHostRequest(req: SignedRequestParts, publicKey: string, now: number): void {
  const tsText = header(req.headers, HOST_SIG_HEADERS.ts)
  const sig = header(req.headers, HOST_SIG_HEADERS.sig)
  if (!tsText || !/^\d{1,15}$/.test(tsText) || !sig || sig.length > 200) {
    throw xerr('XC_HOST_SIGNATURE', `missing or malformed ${HOST_SIG_HEADERS.ts}/${HOST_SIG_HEADERS.sig} headers`)
  }
  const ts = Number(tsText)
  if (Math.abs(now - ts) > HOST_SIG_SKEW_MS) throw xerr('XC_HOST_SIGNATURE', 'request timestamp too far from the bridge clock')
  let key
  try {
    key = publicKeyObject(publicKey)
  } catch {
    throw xerr('XC_HOST_SIGNATURE', 'host public key is malformed')
  }
  if (!verifyBytes(key, hostRequestBytes(req.method, req.path, ts, req.rawBody), sig)) {
    throw xerr('XC_HOST_SIGNATURE', 'signature does not verify')
  }
}
