/**
 * Server-to-server HTTPS with a pinned certificate: the bridge sending orders to hosts, and a host
 * copying a shard from another host during repair. Trust is exactly the certificate the bridge
 * recorded for that host (its PEM as the only CA, then its SHA-256 fingerprint must match), so
 * neither a CA nor DNS is trusted. One small keep-alive agent per host.
 */
import https from 'node:https'
import type { PeerCertificate } from 'node:tls'
import { XError, fromWire, toXError } from '../errors.js'
import type { HostContact } from '../protocol.js'

const agents = new Map<string, { fingerprint: string; agent: https.Agent }>()

function agentFor(host: HostContact): https.Agent {
  const known = agents.get(host.id)
  if (known && known.fingerprint === host.fingerprint) return known.agent
  known?.agent.destroy()
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 4,
    maxFreeSockets: 2,
    ca: host.cert,
    checkServerIdentity: (_name: string, cert: PeerCertificate) =>
      cert.fingerprint256 === host.fingerprint ? undefined : new XError('XC_TLS_PIN', `host ${host.id.slice(0, 12)} presented ${cert.fingerprint256}`),
  })
  agents.set(host.id, { fingerprint: host.fingerprint, agent })
  return agent
}

export function closePinnedAgents(): void {
  for (const { agent } of agents.values()) agent.destroy()
  agents.clear()
}

export interface PinnedRequest {
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  body?: Buffer
  timeoutMs?: number
  /** Largest response body accepted. */
  maxBytes?: number
  signal?: AbortSignal
}

/** One request; resolves with the body of a 2xx answer, rejects with the host's XError otherwise. */
export function pinnedRequest(host: HostContact, r: PinnedRequest): Promise<Buffer> {
  const maxBytes = r.maxBytes ?? 1024 * 1024
  return new Promise((resolve, reject) => {
    let url: URL
    try {
      url = new URL(r.path, host.url)
    } catch {
      reject(new XError('XC_HOST_UNREACHABLE', `host ${host.id.slice(0, 12)} has an invalid URL`))
      return
    }
    const headers: Record<string, string | number> = { ...r.headers }
    if (r.body) headers['content-length'] = r.body.length
    const req = https.request(url, { method: r.method, headers, agent: agentFor(host), ...(r.signal ? { signal: r.signal } : {}) }, (res) => {
      const chunks: Buffer[] = []
      let n = 0
      res.on('data', (c: Buffer) => {
        n += c.length
        if (n > maxBytes) {
          req.destroy(new XError('XC_BODY_TOO_LARGE', `host ${host.id.slice(0, 12)} answered more than ${maxBytes} bytes`))
          return
        }
        chunks.push(c)
      })
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        const status = res.statusCode ?? 500
        if (status >= 200 && status < 300) {
          resolve(body)
          return
        }
        let json: unknown
        try {
          json = JSON.parse(body.toString('utf8'))
        } catch {
          json = undefined
        }
        reject(fromWire(status, json))
      })
      res.on('error', (err) => reject(toXError(err)))
    })
    req.setTimeout(r.timeoutMs ?? 15_000, () => req.destroy(new XError('XC_TIMEOUT', `host ${host.id.slice(0, 12)} did not answer in time`)))
    req.on('error', (err) => reject(err instanceof XError ? err : toXError(err)))
    req.end(r.body)
  })
}

/** POST JSON, parse the JSON answer. */
export async function pinnedJson<T>(host: HostContact, path: string, body: unknown, timeoutMs?: number, signal?: AbortSignal): Promise<T> {
  const buf = await pinnedRequest(host, {
    method: 'POST', path, body: Buffer.from(JSON.stringify(body)), headers: { 'content-type': 'application/json' },
    ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(signal ? { signal } : {}),
  })
  try {
    return JSON.parse(buf.toString('utf8')) as T
  } catch {
    throw new XError('XC_BAD_JSON', `host ${host.id.slice(0, 12)} answered something that is not JSON`)
  }
}
