/**
 * Shard transfers to and from hosts over HTTPS with certificate pinning.
 *
 * Hosts use self-signed certificates; the bridge recorded each one's SHA-256 fingerprint and PEM at
 * registration. We trust exactly that certificate (`ca` = its PEM) and then require the presented
 * certificate's fingerprint to equal the pinned one, so neither a CA nor DNS is trusted.
 * One keep-alive agent per host keeps TLS handshakes off the hot path. Node's https is used
 * directly (not got) because hedging needs to abort a request and reuse its socket budget at once,
 * and reads land straight in one preallocated buffer per shard.
 */
import https from 'node:https'
import type { IncomingMessage } from 'node:http'
import type { PeerCertificate } from 'node:tls'
import { XError, fromWire, toXError } from '../../shared/errors.js'
import type { HostContact, Receipt } from '../../shared/protocol.js'

export interface TransferTiming {
  /** Milliseconds from request start to the last byte. */
  ms: number
  /** Milliseconds to the response headers. */
  firstByteMs: number
}

const agents = new Map<string, { fingerprint: string; agent: https.Agent }>()

export function agentFor(host: HostContact): https.Agent {
  const known = agents.get(host.id)
  if (known && known.fingerprint === host.fingerprint) return known.agent
  known?.agent.destroy()
  const agent = new https.Agent({
    keepAlive: true,
    keepAliveMsecs: 30_000,
    maxSockets: 8,
    maxFreeSockets: 8,
    ca: host.cert,
    checkServerIdentity: (_name: string, cert: PeerCertificate) =>
      cert.fingerprint256 === host.fingerprint
        ? undefined
        : new XError('XC_TLS_PIN', `host ${host.id.slice(0, 12)} presented ${cert.fingerprint256}`),
  })
  agents.set(host.id, { fingerprint: host.fingerprint, agent })
  return agent
}

/** Close every pooled connection (end of a command, or tests). */
export function closeAgents(): void {
  for (const { agent } of agents.values()) agent.destroy()
  agents.clear()
}

interface RequestOptions {
  signal?: AbortSignal
  /** Abort when no byte moves for this long. */
  idleTimeoutMs?: number
}

function request(host: HostContact, method: 'GET' | 'PUT', path: string, headers: Record<string, string | number>, body: Buffer | null, opts: RequestOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, host.url)
    const req = https.request(url, { method, headers, agent: agentFor(host), signal: opts.signal }, resolve)
    req.setTimeout(opts.idleTimeoutMs ?? 15_000, () => req.destroy(new XError('XC_TIMEOUT', `host ${host.id.slice(0, 12)} idle`)))
    req.on('error', (err) => reject(err instanceof XError ? err : toXError(err)))
    req.end(body ?? undefined)
  })
}

async function errorFrom(res: IncomingMessage): Promise<XError> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of res as AsyncIterable<Buffer>) {
    if (n < 64 * 1024) chunks.push(c)
    n += c.length
  }
  let body: unknown
  try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { body = undefined }
  return fromWire(res.statusCode ?? 500, body)
}

/** PUT one shard to one host; returns the host's signed receipt. */
export async function putShard(host: HostContact, token: string, hash: string, data: Buffer, opts: RequestOptions = {}): Promise<Receipt> {
  const res = await request(host, 'PUT', `/shards/${hash}`, {
    authorization: `XC-Token ${token}`,
    'content-type': 'application/octet-stream',
    'content-length': data.length,
  }, data, opts)
  if (res.statusCode !== 200 && res.statusCode !== 201) throw await errorFrom(res)
  const chunks: Buffer[] = []
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c)
  let receipt: Receipt
  try { receipt = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Receipt } catch { throw new XError('XC_HOST_UNREACHABLE', 'host answered a malformed receipt') }
  if (receipt?.h !== hash || receipt.host !== host.id || receipt.size !== data.length || typeof receipt.sig !== 'string') {
    throw new XError('XC_HOST_UNREACHABLE', 'host answered a receipt for something else')
  }
  return receipt
}

/**
 * GET one whole shard of known size into one buffer. The caller verifies the hash; here we only
 * refuse a body of the wrong length (without reading more than `size` bytes into memory).
 */
export async function getShard(host: HostContact, token: string, hash: string, size: number, opts: RequestOptions = {}): Promise<{ data: Buffer } & TransferTiming> {
  const start = performance.now()
  const res = await request(host, 'GET', `/shards/${hash}`, token ? { authorization: `XC-Token ${token}` } : {}, null, opts)
  const firstByteMs = performance.now() - start
  if (res.statusCode !== 200) throw await errorFrom(res)
  const data = Buffer.allocUnsafe(size)
  let off = 0
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (off + chunk.length > size) {
      res.destroy()
      throw new XError('XC_SIZE_MISMATCH', `host sent more than ${size} bytes`)
    }
    chunk.copy(data, off)
    off += chunk.length
  }
  if (off !== size) throw new XError('XC_SIZE_MISMATCH', `host sent ${off} of ${size} bytes`)
  return { data, ms: performance.now() - start, firstByteMs }
}
