/**
 * The host's few calls to the bridge. Announce and heartbeat are host-signed: the signature covers
 * method, request path, timestamp and the body's SHA-256 (tokens.ts hostRequestBytes), so a bridge
 * can tie each call to the key whose hash is the host id.
 */
import type { KeyObject } from 'node:crypto'
import { XError, fromWire, xerr } from '../../shared/errors.js'
import type { BridgeInfo } from '../../shared/protocol.js'
import { HOST_SIG_HEADERS, hostRequestBytes, publicKeyObject, signBytes } from '../../shared/tokens.js'

const REQUEST_TIMEOUT_MS = 15_000

export interface HostSigner {
  hostId: string
  privateKey: KeyObject
}

/** Join a base URL that may carry a path prefix (`https://x/bridge`) with an API path. */
export function bridgeUrl(base: string, path: string): URL {
  return new URL(base.replace(/\/+$/, '') + path)
}

export async function fetchBridgeInfo(base: string): Promise<BridgeInfo> {
  const info = await call<BridgeInfo>(bridgeUrl(base, '/v1/info'), { method: 'GET' })
  try {
    publicKeyObject(info?.publicKey)
  } catch {
    throw xerr('XC_CONFIG', `the bridge at ${base} answered /v1/info without a valid Ed25519 publicKey`)
  }
  return info
}

export async function signedPost<T>(base: string, path: string, body: unknown, signer: HostSigner, signal?: AbortSignal): Promise<T> {
  const url = bridgeUrl(base, path)
  const bytes = Buffer.from(JSON.stringify(body))
  const ts = Date.now()
  // Sign the path exactly as it goes on the request line, which is what the bridge sees.
  const sig = signBytes(signer.privateKey, hostRequestBytes('POST', url.pathname + url.search, ts, bytes))
  return call<T>(url, {
    method: 'POST',
    body: bytes,
    headers: {
      'content-type': 'application/json',
      [HOST_SIG_HEADERS.id]: signer.hostId,
      [HOST_SIG_HEADERS.ts]: String(ts),
      [HOST_SIG_HEADERS.sig]: sig,
    },
    ...(signal ? { signal } : {}),
  })
}

async function call<T>(url: URL, init: RequestInit): Promise<T> {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout
  let res: Response
  try {
    res = await fetch(url, { ...init, signal })
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    const why = cause?.code ?? cause?.message ?? (err as Error).message
    if ((err as Error).name === 'TimeoutError') throw new XError('XC_TIMEOUT', `bridge at ${url.origin} did not answer in time`)
    throw new XError('XC_UNAVAILABLE', `cannot reach the bridge at ${url.origin} (${why})`, undefined, { cause: err })
  }
  const text = await res.text()
  let json: unknown = null
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    // A non-JSON answer (a proxy's error page) is reported by status below.
  }
  if (!res.ok) throw fromWire(res.status, json)
  return json as T
}
