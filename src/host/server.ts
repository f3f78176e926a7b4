/**
 * X Core, the host: stores shards and serves them over HTTPS.
 *
 * Words: a **shard** is an encrypted piece of a file (≤ 2 MiB), named by the SHA-256 of its bytes.
 * A **mirror** is one host holding one shard; the bridge places several mirrors per shard. A
 * **transfer token** is the bridge's Ed25519-signed permission to put or get one shard on one host
 * until it expires. A **receipt** is this host's signature that it durably stored a shard.
 *
 * Invariants:
 * - No request touches a shard without a valid token for exactly that shard, host and operation,
 *   verified against the bridge key pinned at init.
 * - A shard is visible under shards/ only once its bytes matched its name and were fsynced
 *   (storage/shard-store.ts); a receipt is signed only after that.
 * - Accepted uploads never exceed capacity: space is reserved before the body is read.
 * - Bad input is a 4xx with a stable XC_ code, never a 5xx and never a crash.
 * - Bandwidth limits hold on the wire: one token bucket per direction shared by all connections.
 * - The bridge being away never stops the host from serving (bridge/announce.ts retries).
 * - An **order** (audit, replicate, delete) runs only if the bridge signed it for this host, it
 *   has not expired, and it is new to this process (routes/orders.ts).
 * - Outside the owner's online hours shards and orders are refused with XC_OFF_SCHEDULE.
 * - The owner's settings (capacity, hours, limits) change at run time: `xcore config` rewrites
 *   config.json, the server applies it and re-announces (live-config.ts).
 * - When the bridge says this host has `exited`, it keeps serving: the owner stops the service.
 *
 * Layout: config.ts (data folder), settings.ts (`xcore config`), live-config.ts, init.ts, tls/
 * (certificate), storage/ (shards on disk), bandwidth/ (token bucket, throttling), routes/ (HTTP),
 * orders/ (what orders do), bridge/ (announce, heartbeat, exit), status*.ts (`xcore status`),
 * dashboard/ (the local web dashboard on a loopback port, closed with the host).
 */
import { constants as cryptoConstants } from 'node:crypto'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import type { Socket } from 'node:net'
import { DEFAULT_CIPHERS, type Server as TlsServer } from 'node:tls'
import Fastify, { type FastifyInstance } from 'fastify'
import { XError, xerr } from '../shared/errors.js'
import { installErrorHandlers } from '../shared/http/fastify-errors.js'
import { closePinnedAgents } from '../shared/http/pinned.js'
import { ReplayGuard } from '../shared/orders.js'
import type { HostState } from '../shared/protocol.js'
import { withinSchedule } from '../shared/schedule.js'
import { hostIdOf, privateKeyObject, publicKeyObject } from '../shared/tokens.js'
import { parseListen } from '../shared/units.js'
import { startBridgeLink, type BridgeLink } from './bridge/announce.js'
import { RateLimit } from './bandwidth/rate-limit.js'
import { TrafficCounter } from './bandwidth/throttle.js'
import { hostPaths, loadConfig, type HostConfig } from './config.js'
import { parseDashboardAddress } from './dashboard/address.js'
import { removeDashboardUrl } from './dashboard/url-file.js'
import { startDashboard, type RunningDashboard } from './dashboard/server.js'
import { LiveConfig } from './live-config.js'
import { registerOrderRoutes } from './routes/orders.js'
import { registerPingRoute } from './routes/ping.js'
import { registerShardRoutes, type ShardRouteDeps } from './routes/shards.js'
import { hostAlpnProtocols, routeShardUploads, ShardUploads } from './routes/shard-uploads.js'
import { startStatusWriter } from './status-file.js'
import { ShardStore } from './storage/shard-store.js'
import { fingerprintOf, isWildcard } from './tls/fingerprint.js'

export interface StartHostOptions {
  dataDir: string
  /** Heartbeat interval; default: the bridge's hint, else 30 s. */
  heartbeatMs?: number
  /** pino level; default 'warn'. */
  logLevel?: string
  /** Where to serve the local web dashboard: a loopback `HOST:PORT` (port 0: any free one), or 'off' (the default here). */
  dashboard?: string
}

export interface RunningHost {
  /** https://HOST:PORT with the real port. */
  url: string
  hostId: string
  /** SHA-256 certificate fingerprint, `AB:CD:…`. */
  fingerprint: string
  certPem: string
  /** http://127.0.0.1:PORT of the local web dashboard, or null when it is off. */
  dashboardUrl: string | null
  /** Stop accepting, let transfers in flight finish (up to ~5 s), stop talking to the bridge. */
  close(): Promise<void>
}

/** How long close() lets in-flight transfers run before cutting them. */
const CLOSE_GRACE_MS = 5000

export async function startHost(opts: StartHostOptions): Promise<RunningHost> {
  // Checked before anything starts: a non-loopback dashboard is refused (XC_USAGE), never served.
  const dashboardAddress = parseDashboardAddress(opts.dashboard ?? 'off')
  const paths = hostPaths(opts.dataDir)
  const config = await loadConfig(opts.dataDir)
  const [keyPem, certPem] = await Promise.all([readFile(paths.tlsKey, 'utf8'), readFile(paths.tlsCert, 'utf8')])
  const fingerprint = fingerprintOf(certPem)
  const hostId = hostIdOf(config.publicKey)
  const hostKey = privateKeyObject(config.privateKey)
  const bridgeKey = publicKeyObject(config.bridgePublicKey)
  const store = await ShardStore.open({ shardsDir: paths.shards, tmpDir: paths.tmp, capacity: config.capacity })
  const traffic = new TrafficCounter()
  const startedAt = performance.now()
  const startedAtMs = Date.now()
  const inLimit = new RateLimit(config.maxDownloadRate)
  const outLimit = new RateLimit(config.maxUploadRate)
  // Read per request: `xcore config` may change it while the host runs.
  let schedule = config.schedule ?? null
  const requireOnline = (): void => {
    if (!withinSchedule(schedule, Date.now())) throw xerr('XC_OFF_SCHEDULE', `this host is online ${schedule} (UTC)`)
  }

  const app = createApp({ keyPem, certPem, logLevel: opts.logLevel ?? 'warn' })
  registerPingRoute(app, hostId, store)
  const shardDeps: ShardRouteDeps = { store, hostId, hostKey, bridgeKey, inLimit, outLimit, traffic, requireOnline }
  registerShardRoutes(app, shardDeps)
  const uploads = new ShardUploads(shardDeps, app.log)
  // createApp gives fastify TLS options, so its server is Node's https.Server, a tls.Server.
  routeShardUploads(app.server as unknown as TlsServer, uploads)
  registerOrderRoutes(app, { store, hostId, hostKey, bridgeKey, inLimit, traffic, requireOnline, guard: new ReplayGuard(startedAtMs) })

  // Stale url files from an earlier run would point readers at dead ports.
  await rm(paths.url, { force: true })
  await removeDashboardUrl(opts.dataDir)
  const listen = parseListen(config.listen)
  await app.listen({ host: listen.host, port: listen.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : listen.port
  const urlHost = isWildcard(listen.host) ? '127.0.0.1' : listen.host
  const url = `https://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${port}`
  await writeFile(paths.url + '.tmp', url, { mode: 0o644 })
  await rename(paths.url + '.tmp', paths.url)

  let state: HostState | null = null
  const onState = (next: HostState): void => {
    if (next === state) return
    state = next
    if (next === 'exited') app.log.info('the bridge reports this host has exited: it holds no data the network needs; stop the service, then the data folder can be removed')
    else app.log.info({ state: next }, 'host state at the bridge')
  }

  const live = new LiveConfig({
    dataDir: opts.dataDir,
    initial: config,
    log: app.log,
    onChange: (next: HostConfig) => {
      store.setCapacity(next.capacity)
      schedule = next.schedule ?? null
      inLimit.set(next.maxDownloadRate)
      outLimit.set(next.maxUploadRate)
      link.reannounce()
    },
  })

  const link: BridgeLink = startBridgeLink({
    bridge: config.bridge,
    signer: { hostId, privateKey: hostKey },
    ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
    log: app.log,
    refresh: () => live.reload(),
    onState,
    announce: () => ({
      publicKey: config.publicKey,
      url,
      fingerprint,
      cert: certPem,
      capacity: store.capacity,
      used: store.used,
      region: live.current.region,
      maxUploadRate: outLimit.rate,
      maxDownloadRate: inLimit.rate,
      schedule,
    }),
    heartbeat: () => ({
      capacity: store.capacity,
      used: store.used,
      shards: store.count,
      bytesIn: traffic.bytesIn,
      bytesOut: traffic.bytesOut,
      uptimeMs: Math.round(performance.now() - startedAt),
    }),
  })
  live.start()

  const status = await startStatusWriter(
    paths.status,
    {
      hostId,
      url,
      startedAt: startedAtMs,
      state: () => state,
      traffic: () => ({ bytesIn: traffic.bytesIn, bytesOut: traffic.bytesOut }),
      store: () => ({ capacity: store.capacity, used: store.used, shards: store.count }),
    },
    (err) => app.log.warn({ err: String(err) }, 'writing status.json failed'),
  )

  let dashboard: RunningDashboard | null = null
  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await dashboard?.close()
      link.stop()
      live.stop()
      uploads.close()
      const force = setTimeout(() => {
        app.server.closeAllConnections()
        uploads.destroyAll()
      }, CLOSE_GRACE_MS)
      // Keep-alive connections whose transfer finishes during the grace period become idle later;
      // close those as they appear instead of waiting for the client to hang up.
      const idle = setInterval(() => app.server.closeIdleConnections(), 100)
      try {
        await app.close()
      } finally {
        clearTimeout(force)
        clearInterval(idle)
        closePinnedAgents()
        await status.stop()
        await rm(paths.url, { force: true }).catch(() => {})
      }
    })())

  if (dashboardAddress) {
    try {
      dashboard = await startDashboard({
        dataDir: opts.dataDir,
        address: dashboardAddress,
        shards: () => ({ used: store.used, count: store.count }),
        onError: (err) => app.log.error({ err }, 'dashboard request failed'),
      })
    } catch (err) {
      await close()
      throw err
    }
  }

  return { url, hostId, fingerprint, certPem, dashboardUrl: dashboard?.url ?? null, close }
}

/**
 * Node's cipher list with TLS 1.3's AES-128-GCM first, which the host prefers over the client's
 * order. Shards arrive and leave encrypted with AES-256 already; the transport only has to keep
 * tokens and traffic private, and AES-128-GCM (TLS 1.3's mandatory suite) does that with 10 AES
 * rounds instead of 14: 4.7 against 4.0 GB/s on one core here (`openssl speed -evp`), and every
 * byte of a shard is sealed by one side of a connection and opened by the other. A client that
 * lists ChaCha20 first (one without AES instructions) still gets it.
 */
export function hostCiphers(list = DEFAULT_CIPHERS): string {
  const suites = list.split(':')
  // An owner who took it out (--tls-cipher-list) keeps it out.
  if (!suites.includes('TLS_AES_128_GCM_SHA256')) return list
  return ['TLS_AES_128_GCM_SHA256', ...suites.filter((c) => c !== 'TLS_AES_128_GCM_SHA256')].join(':')
}

function createApp(o: { keyPem: string; certPem: string; logLevel: string }): FastifyInstance {
  const app = Fastify({
    // Passed to https.createServer: TLS identity plus Node's HTTP limits.
    https: { key: o.keyPem, cert: o.certPem, maxHeaderSize: 16 * 1024, ALPNProtocols: hostAlpnProtocols(), ciphers: hostCiphers(), honorCipherOrder: true, secureOptions: cryptoConstants.SSL_OP_PRIORITIZE_CHACHA },
    // Logs go to stderr: stdout carries the `listening …` line that scripts wait for.
    logger: { level: o.logLevel, stream: process.stderr },
    // Clients hold connections across many shards; outlive their idle pools.
    keepAliveTimeout: 65_000,
    // A whole request may take long when a low rate limit is shared by many uploads (2 MiB at
    // 8 KiB/s is over 4 minutes); a stuck client is still cut off eventually.
    requestTimeout: 15 * 60_000,
    routerOptions: { maxParamLength: 256 },
    clientErrorHandler: answerClientError,
    exposeHeadRoutes: false,
    return503OnClosing: true,
  })
  installErrorHandlers(app)
  // Shard bodies are streamed by the route itself, whatever their declared type; the one JSON
  // route (orders) reads its small body itself with a cap, so nothing is buffered by a parser.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload))
  return app
}

/**
 * Requests Node rejects before fastify sees them (headers too large, garbage on the wire, a
 * request that took too long) still get the project's error shape, and the connection closes,
 * since the parser cannot resume mid-stream.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy()
    return
  }
  const x =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new XError('XC_TIMEOUT', 'request took too long')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new XError('XC_BAD_REQUEST', 'request headers too large (limit 16 KiB)')
        : new XError('XC_BAD_REQUEST', 'malformed HTTP request')
  const body = JSON.stringify(x.toJSON())
  socket.end(
    `HTTP/1.1 ${x.status} ${x.status === 504 ? 'Gateway Timeout' : 'Bad Request'}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}
