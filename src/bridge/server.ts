/**
 * The bridge: the coordinator of X Cloud. It knows every **user** (an email, a slow hash of the
 * password-derived auth key, the wrapped master key) and their **sessions** (bearer secrets stored
 * as SHA-256); every **host** (id = SHA-256 of its Ed25519 key, URL, pinned TLS fingerprint,
 * capacity, heartbeats, reputation); the encrypted **tree** of each user; and for each file
 * **version** its **manifest** (opaque), wrapped key and ordered **shards**, each held by
 * **mirrors** on distinct hosts. **Placement** picks those hosts; a client uploads with put
 * **tokens** the bridge signs and hands back the **receipts** hosts signed; downloads get get
 * tokens. Tokens name a shard and a host, never a user.
 *
 * Invariants:
 * - the bridge can read neither contents nor names: it stores ciphertext, hashes and sizes;
 * - every query is scoped to the session's user; another user's ids answer 404, as unknown ids do;
 * - a mirror is recorded only from a receipt signed by the host the bridge chose for that shard;
 * - a version becomes current only by a commit whose every shard has `mirrors` receipts, in one
 *   transaction with its change-log entry and a compare-and-swap on the node's previous version;
 * - bad input of any kind is a 4xx with a stable XC_ code, never a 5xx.
 *
 * Folders: auth/ (users, sessions), hosts/ (registry, signatures, health, reports), placement/
 * (pure host choice), tree/ (nodes, rules, change log), uploads/, downloads/, shards/ (versions
 * and mirrors), store/ (SQLite implementation of every domain's storage interface), admin/.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import pino from 'pino'
import { DEFAULT_MIRRORS, MAX_JSON_BODY, type BridgeInfo } from '../shared/protocol.js'
import { installErrorHandlers } from '../shared/http/fastify-errors.js'
import { closePinnedAgents } from '../shared/http/pinned.js'
import { auditRound } from './audit/auditor.js'
import { startChores, type RunningChores } from './chores.js'
import { loadBridgeConfig } from './earnings/prices.js'
import { gcRound } from './gc/collector.js'
import { OrderSender } from './orders/sender.js'
import { repairRound } from './repair/repairer.js'
import { Suspects } from './audit/suspects.js'
import { registerAuthRoutes } from './auth/routes.js'
import { sessionGuard } from './auth/session.js'
import type { BridgeContext } from './context.js'
import { registerDownloadRoutes } from './downloads/routes.js'
import { registerHostRoutes } from './hosts/routes.js'
import { installJsonBodyParser } from './http/json-body.js'
import { schemaErrorFormatter } from './http/schemas.js'
import { loadOrCreateKeys, TokenMinter } from './keys.js'
import { openSqliteStore, type BridgeStore } from './store/sqlite/index.js'
import { registerTreeRoutes } from './tree/routes.js'
import { registerUploadRoutes } from './uploads/routes.js'

export const DEFAULT_OFFLINE_AFTER_MS = 2 * 60_000
export const DEFAULT_REPAIR_INTERVAL_MS = 60_000
export const DEFAULT_AUDIT_INTERVAL_MS = 60_000
export const DEFAULT_GC_GRACE_MS = 24 * 3600_000
/** Shards audited per host per audit round. */
export const DEFAULT_AUDITS_PER_HOST = 2
/** How often shards clients reported corrupt are audited. */
export const SUSPECT_INTERVAL_MS = 5_000
/** Shards repaired per round at most, and copies at once. */
export const DEFAULT_REPAIRS_PER_ROUND = 256
export const DEFAULT_REPAIR_CONCURRENCY = 4

export interface BridgeOptions {
  dataDir: string
  /** HOST:PORT parts; defaults to 127.0.0.1:0 (an ephemeral loopback port). */
  listen?: { host: string; port: number }
  mirrors?: number
  offlineAfterMs?: number
  logLevel?: string
  /** PEM certificate and key file paths; required for a non-loopback listen address. */
  tls?: { cert: string; key: string }
  /** Clock, for tests. */
  now?: () => number
  repairIntervalMs?: number
  auditIntervalMs?: number
  gcGraceMs?: number
  requireApproval?: boolean
  /** Bridge config file (prices); default DATA/config.json, optional. */
  configFile?: string
}

export interface RunningBridge {
  url: string
  close(): Promise<void>
}

export function buildApp(store: BridgeStore, ctx: BridgeContext, opts: { logLevel: string; tls?: { cert: Buffer; key: Buffer }; suspects?: Suspects }): FastifyInstance {
  const options = {
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
    // Logs go to stderr: stdout belongs to the CLI (its first line is `listening URL`).
    loggerInstance: pino({ level: opts.logLevel }, pino.destination(2)),
    bodyLimit: MAX_JSON_BODY,
    // Bodies are validated as sent: no coercion, and unknown properties are errors, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter,
    return503OnClosing: true,
  }
  // The HTTPS variant of fastify's instance type differs only in the server class.
  const app = Fastify(options as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance
  installErrorHandlers(app)
  installJsonBodyParser(app)
  const requireSession = sessionGuard(store, ctx.now)

  app.get('/v1/info', async (): Promise<BridgeInfo> => ({ version: 1, publicKey: ctx.publicKey, mirrors: ctx.mirrors }))
  registerAuthRoutes(app, { ctx, store, requireSession })
  const suspects = opts.suspects
  registerHostRoutes(app, {
    ctx, hosts: store, shards: store, requireSession,
    ...(suspects ? { suspect: (hostId: string, hash: string) => { suspects.report(hostId, hash, ctx.now()) } } : {}),
  })
  registerTreeRoutes(app, { ctx, tree: store, requireSession })
  registerUploadRoutes(app, { ctx, store, requireSession })
  registerDownloadRoutes(app, { ctx, store, requireSession })
  return app
}

export async function startBridge(opts: BridgeOptions): Promise<RunningBridge> {
  mkdirSync(opts.dataDir, { recursive: true })
  const keys = loadOrCreateKeys(opts.dataDir)
  const config = loadBridgeConfig(opts.configFile ?? join(opts.dataDir, 'config.json'), opts.configFile !== undefined)
  const now = opts.now ?? Date.now
  const ctx: BridgeContext = {
    now,
    mirrors: opts.mirrors ?? DEFAULT_MIRRORS,
    offlineAfterMs: opts.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS,
    publicKey: keys.publicKey,
    secret: Buffer.from(keys.secret, 'base64url'),
    tokens: new TokenMinter(keys.privateKey, now),
    requireApproval: opts.requireApproval ?? false,
    prices: config.prices,
  }
  const tls = opts.tls && { cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) }
  const store = openSqliteStore(join(opts.dataDir, 'bridge.db'))
  const auditIntervalMs = opts.auditIntervalMs ?? DEFAULT_AUDIT_INTERVAL_MS
  const suspects = new Suspects(auditIntervalMs)
  const app = buildApp(store, ctx, { logLevel: opts.logLevel ?? 'warn', suspects, ...(tls ? { tls } : {}) })
  try {
    const listen = opts.listen ?? { host: '127.0.0.1', port: 0 }
    await app.listen({ host: listen.host, port: listen.port })
  } catch (err) {
    store.close()
    throw err
  }
  const addr = app.server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const url = `${opts.tls ? 'https' : 'http'}://${host}:${addr.port}`
  writeFileSync(join(opts.dataDir, 'url'), url + '\n')
  const chores = startBridgeChores(store, ctx, new OrderSender(keys.privateKey, now), app.log, suspects, {
    repairIntervalMs: opts.repairIntervalMs ?? DEFAULT_REPAIR_INTERVAL_MS,
    auditIntervalMs,
    gcGraceMs: opts.gcGraceMs ?? DEFAULT_GC_GRACE_MS,
  })
  let closed: Promise<void> | undefined
  return {
    url,
    close: () => (closed ??= chores.stop().then(() => app.close()).finally(() => { closePinnedAgents(); store.close() })),
  }
}

interface ChoreTimings {
  repairIntervalMs: number
  auditIntervalMs: number
  gcGraceMs: number
}

function startBridgeChores(store: BridgeStore, ctx: BridgeContext, orders: OrderSender, log: FastifyBaseLogger, suspects: Suspects, t: ChoreTimings): RunningChores {
  const lastTried = new Map<string, number>()
  const audit = { ctx, store, orders, log, perHost: DEFAULT_AUDITS_PER_HOST }
  return startChores([
    { name: 'audit', intervalMs: t.auditIntervalMs, run: () => auditRound(audit) },
    // Shards clients reported corrupt are audited within seconds, not at the next regular round.
    { name: 'suspects', intervalMs: Math.min(t.auditIntervalMs, t.repairIntervalMs, SUSPECT_INTERVAL_MS), run: () => suspects.round(audit) },
    {
      name: 'repair', intervalMs: t.repairIntervalMs,
      run: () => repairRound({ ctx, store, orders, log, maxPerRound: DEFAULT_REPAIRS_PER_ROUND, concurrency: DEFAULT_REPAIR_CONCURRENCY, lastTried }),
    },
    // Collected as often as repair runs (and at least every minute); the grace is what delays it.
    { name: 'gc', intervalMs: Math.min(t.repairIntervalMs, 60_000), run: () => gcRound({ ctx, store, orders, log, graceMs: t.gcGraceMs }) },
  ], log)
}
