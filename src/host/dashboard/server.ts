/**
 * The host's local web dashboard: a small plain-HTTP server on a loopback address, next to the
 * HTTPS shard server of `xcore serve`. Words: the **page** (page.ts, one self-contained document),
 * the **status** (GET /api/status: exactly the object `xcore status --json` prints, from
 * readHostStatus), the **chart** (chart.ts, traffic over time from the status history).
 *
 * Invariants:
 * - Local-only: it binds a loopback address (address.ts refuses others) and answers only requests
 *   whose Host header names that address or localhost with its port (DNS rebinding gets a 403).
 * - Read-only: GET and HEAD; anything else is 405. No CORS headers, so other origins cannot read
 *   it; every answer forbids framing, sniffing and caching, and the page's CSP allows nothing but
 *   its own inline script and style and requests to this origin.
 * - It stays off the data path: the shard totals come from the store's memory (no disk scan),
 *   and the bridge is asked at most once per few seconds however many pages poll (bridge-cache.ts).
 * - Errors are JSON with a stable XC_ code, as on every other server of the project.
 *
 * Layout: address.ts (where it listens, whom it answers), server.ts (HTTP), page.ts (the page),
 * chart.ts (chart geometry), bridge-cache.ts, url-file.ts (DATA/dashboard-url).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { XError } from '../../shared/errors.js'
import { toHttpError } from '../../shared/http/fastify-errors.js'
import { askBridge, readHostStatus, type BridgeAnswer } from '../status.js'
import type { HostConfig } from '../config.js'
import { allowedHosts, dashboardUrlOf, hostAllowed, type DashboardAddress } from './address.js'
import { bridgeCache } from './bridge-cache.js'
import { DASHBOARD_PAGE } from './page.js'
import { removeDashboardUrl, writeDashboardUrl } from './url-file.js'

export interface DashboardOptions {
  dataDir: string
  address: DashboardAddress
  /** The running host's shard totals, read from memory. */
  shards: () => { used: number; count: number }
  /** The bridge's answer; default: askBridge behind a bridgeCache. */
  bridge?: (config: HostConfig) => Promise<BridgeAnswer>
  /** Unexpected failures (a bug or a broken data folder), for the host's log. */
  onError?: (err: unknown) => void
}

export interface RunningDashboard {
  /** http://127.0.0.1:PORT with the real port. */
  url: string
  /** Stop answering, cut open connections (pages keep theirs alive), remove DATA/dashboard-url. */
  close(): Promise<void>
}

/** Headers on every answer. */
const COMMON_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'content-security-policy': DASHBOARD_PAGE.csp,
}

export async function startDashboard(o: DashboardOptions): Promise<RunningDashboard> {
  const bridge = o.bridge ?? bridgeCache({ ask: (config) => askBridge(config) })
  const status = () => readHostStatus(o.dataDir, { shards: async () => o.shards(), bridge })
  let allowed: ReadonlySet<string> = new Set()

  const server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    handle(req, res, allowed, status, o.onError).catch((err: unknown) => {
      o.onError?.(err)
      if (!res.headersSent) send(res, req, errorAnswer(new XError('XC_INTERNAL')))
      else res.destroy()
    })
  })
  // A page or script that opens a connection and stalls must not hold it forever.
  server.requestTimeout = 30_000
  server.headersTimeout = 10_000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: o.address.host, port: o.address.port }, () => {
      server.off('error', reject)
      resolve()
    })
  }).catch((err: NodeJS.ErrnoException) => {
    const where = dashboardUrlOf(o.address.host, o.address.port).slice('http://'.length)
    throw new XError('XC_LOCAL_IO', `cannot serve the dashboard on ${where}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message} (choose another with --dashboard HOST:PORT, or --dashboard off)`)
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : o.address.port
  allowed = allowedHosts(o.address.host, port)
  const url = dashboardUrlOf(o.address.host, port)
  try {
    await writeDashboardUrl(o.dataDir, url)
  } catch (err) {
    server.close()
    throw new XError('XC_LOCAL_IO', `cannot write the dashboard URL: ${(err as Error).message}`)
  }

  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await removeDashboardUrl(o.dataDir)
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    })())
  return { url, close }
}

interface Answer {
  status: number
  type: string
  body: string
  headers?: Record<string, string>
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  allowed: ReadonlySet<string>,
  status: () => Promise<unknown>,
  onError: ((err: unknown) => void) | undefined,
): Promise<void> {
  // Checked first: a rebound name learns nothing, not even which paths exist.
  if (!hostAllowed(req.headers.host, allowed)) {
    const names = [...allowed].map((h) => `http://${h}`).join(' or ')
    return send(res, req, errorAnswer(new XError('XC_FORBIDDEN', `this dashboard answers only at ${names} (Host header ${JSON.stringify(req.headers.host ?? '')})`)))
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, req, { ...errorAnswer(new XError('XC_METHOD_NOT_ALLOWED', `${req.method} is not allowed: the dashboard is read-only (GET, HEAD)`)), headers: { allow: 'GET, HEAD' } })
  }
  const path = (req.url ?? '/').split('?')[0]
  if (path === '/' || path === '/index.html') return send(res, req, { status: 200, type: 'text/html; charset=utf-8', body: DASHBOARD_PAGE.html })
  if (path === '/api/status') {
    try {
      return send(res, req, { status: 200, type: 'application/json; charset=utf-8', body: JSON.stringify(await status()) })
    } catch (err) {
      const x = toHttpError(err)
      if (x.code === 'XC_INTERNAL') onError?.(err)
      return send(res, req, errorAnswer(x))
    }
  }
  return send(res, req, errorAnswer(new XError('XC_ROUTE_NOT_FOUND', `no endpoint ${req.method} ${path}`)))
}

function errorAnswer(x: XError): Answer {
  return { status: x.status, type: 'application/json; charset=utf-8', body: JSON.stringify(x.toJSON()) }
}

function send(res: ServerResponse, req: IncomingMessage, a: Answer): void {
  res.writeHead(a.status, { ...COMMON_HEADERS, ...a.headers, 'content-type': a.type, 'content-length': Buffer.byteLength(a.body) })
  res.end(req.method === 'HEAD' ? undefined : a.body)
}
