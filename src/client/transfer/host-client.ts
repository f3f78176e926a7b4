/**
 * Shard transfers to and from hosts over HTTPS with certificate pinning.
 *
 * Hosts use self-signed certificates; the bridge recorded each one's SHA-256 fingerprint and PEM at
 * registration. We trust exactly that certificate (`ca` = its PEM) and then require the presented
 * certificate's fingerprint to equal the pinned one, so neither a CA nor DNS is trusted.
 * One keep-alive agent per host keeps TLS handshakes off the hot path. Node's https is used
 * directly (not got) because hedging needs to abort a request and reuse its socket budget at once.
 * Downloads go through shard-get.ts, whose connections decrypt each body straight into its
 * shard's buffer.
 */
import https from 'node:https'
import PQueue from 'p-queue'
import type { IncomingMessage } from 'node:http'
import type { PeerCertificate } from 'node:tls'
import { XError, fromWire, toXError } from '../../shared/errors.js'
import { SHARD_PUT_ALPN, type HostContact, type Receipt } from '../../shared/protocol.js'
import { shardBuffers } from './buffers.js'
import { closeShardConnections, getInto } from './shard-get.js'

export interface TransferTiming {
  /** Milliseconds from request start to the last byte. */
  ms: number
  /** Milliseconds to the response headers. */
  firstByteMs: number
}

const WRITE_SLICE = 256 * 1024

/** Requests in flight to one host at most; more wait in that host's queue. */
export const PER_HOST_CONCURRENCY = 8

const agents = new Map<string, { fingerprint: string; agent: https.Agent }>()
const queues = new Map<string, PQueue>()

/**
 * Every transfer to a host goes through that host's queue (p-queue), so one client never opens
 * more than PER_HOST_CONCURRENCY requests to a host however many shards are in flight, while
 * different hosts work in parallel.
 *
 * A cancelled transfer rejects at once, but its slot stays taken until the task itself has ended
 * (its request is cancelled by the same signal): p-queue's own signal option frees the slot when
 * the signal fires, while the request may still be running. A queued transfer whose signal fired
 * is skipped when its turn comes. A result that arrives after the cancellation goes to `discard`
 * (a pooled buffer goes back to its pool).
 */
export function queued<T>(host: Pick<HostContact, 'id'>, signal: AbortSignal | undefined, task: () => Promise<T>, discard?: (late: T) => void): Promise<T> {
  let q = queues.get(host.id)
  if (!q) {
    q = new PQueue({ concurrency: PER_HOST_CONCURRENCY })
    queues.set(host.id, q)
  }
  const cancelled = (): XError => new XError('XC_TIMEOUT', 'transfer cancelled')
  const run = q.add(() => {
    if (signal?.aborted) throw cancelled()
    return task()
  }, { throwOnTimeout: true }) as Promise<T>
  if (!signal) return run
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(cancelled())
    signal.addEventListener('abort', onAbort, { once: true })
    if (signal.aborted) onAbort()
    run.then((value) => {
      signal.removeEventListener('abort', onAbort)
      if (signal.aborted) discard?.(value)
      else resolve(value)
    }, (err: unknown) => {
      signal.removeEventListener('abort', onAbort)
      reject(signal.aborted ? cancelled() : err)
    })
  })
}

export function agentFor(host: HostContact): https.Agent {
  const known = agents.get(host.id)
  if (known && known.fingerprint === host.fingerprint) return known.agent
  known?.agent.destroy()
  const agent = new https.Agent({
    keepAlive: true,
    keepAliveMsecs: 30_000,
    maxSockets: PER_HOST_CONCURRENCY,
    maxFreeSockets: PER_HOST_CONCURRENCY,
    ca: host.cert,
    // These connections carry shard PUTs only: a host that knows this protocol reads their bodies
    // straight into its shard buffers (see SHARD_PUT_ALPN).
    ALPNProtocols: [SHARD_PUT_ALPN, 'http/1.1'],
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
  closeShardConnections()
  for (const q of queues.values()) q.clear()
  queues.clear()
}

interface RequestOptions {
  signal?: AbortSignal
  /** Abort when no byte moves for this long. */
  idleTimeoutMs?: number
}

/** PUT `body` to `path` on `host`; resolves with the response once its headers arrive. */
function put(host: HostContact, path: string, headers: Record<string, string | number>, body: Buffer, opts: RequestOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, host.url)
    const req = https.request(url, { method: 'PUT', headers, agent: agentFor(host), signal: opts.signal }, resolve)
    req.setTimeout(opts.idleTimeoutMs ?? 15_000, () => req.destroy(new XError('XC_TIMEOUT', `host ${host.id.slice(0, 12)} idle`)))
    req.on('error', (err) => reject(err instanceof XError ? err : toXError(err)))
    // In slices, each written once the previous one reached the socket: TLS encrypts a write at
    // once, so one 2 MiB write would hold a second, encrypted copy of the shard per request until
    // the socket drains. (Write callbacks, not 'drain': a request that waited for a pooled socket
    // does not always see a 'drain' for data it buffered before it had one.) The headers go first
    // on their own: written together with the first slice, TLS would copy both into one buffer.
    req.flushHeaders()
    const writeFrom = (off: number): void => {
      if (off >= body.length) {
        req.end()
        return
      }
      const end = Math.min(off + WRITE_SLICE, body.length)
      req.write(body.subarray(off, end), (err) => {
        if (!err) writeFrom(end)
      })
    }
    writeFrom(0)
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
export function putShard(host: HostContact, token: string, hash: string, data: Buffer, opts: RequestOptions = {}): Promise<Receipt> {
  return queued(host, opts.signal, () => putShardNow(host, token, hash, data, opts))
}

async function putShardNow(host: HostContact, token: string, hash: string, data: Buffer, opts: RequestOptions): Promise<Receipt> {
  const res = await put(host, `/shards/${hash}`, {
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
 * GET one whole shard of known size into one pooled buffer (the caller releases it to
 * shardBuffers when done), on a connection of shard-get.ts that decrypts the body straight into
 * that buffer. The caller verifies the hash; here we only refuse a body of the wrong length.
 */
export function getShard(host: HostContact, token: string, hash: string, size: number, opts: RequestOptions = {}): Promise<{ data: Buffer } & TransferTiming> {
  return queued(host, opts.signal, () => getShardNow(host, token, hash, size, opts), (late) => shardBuffers.release(late.data))
}

async function getShardNow(host: HostContact, token: string, hash: string, size: number, opts: RequestOptions): Promise<{ data: Buffer } & TransferTiming> {
  const start = performance.now()
  const data = shardBuffers.acquire(size)
  try {
    const { firstByteMs } = await getInto(host, token, hash, data, opts)
    return { data, ms: performance.now() - start, firstByteMs }
  } catch (err) {
    shardBuffers.release(data)
    throw err
  }
}
