/**
 * Shard downloads on connections of our own: HTTP/1.1 GET over pinned TLS, with the body landing
 * straight in the shard's buffer.
 *
 * Through `https.request`, every TLS record (16 KiB) becomes a fresh Buffer that V8 tracks as
 * external memory, goes through the stream machinery and the HTTP parser, and is then copied into
 * the shard's buffer: for a 1 GiB read, 65,000 buffers that start full garbage collections, and a
 * second copy of every byte. Here the socket reads with TLS's `onread` option, which decrypts into
 * a buffer we choose each time: while a body is due, the unfilled rest of the shard's buffer.
 *
 * The protocol is the small subset hosts speak for GET /shards/:hash: one request at a time per
 * connection, a status line, headers with Content-Length (no chunked bodies), keep-alive. Anything
 * else from a host is a protocol error and closes the connection; the fetcher moves to another
 * mirror. Trust is the same as the https agent's: the host's registered certificate as the only
 * CA, then its SHA-256 fingerprint must match.
 */
import tls from 'node:tls'
import type { PeerCertificate } from 'node:tls'
import type { OnReadOpts } from 'node:net'
import { XError, fromWire, toXError } from '../../shared/errors.js'
import type { HostContact } from '../../shared/protocol.js'

/** Status line and headers must fit in this. */
const HEAD_MAX = 16 * 1024
/** Error bodies (JSON) longer than this are not read; the connection closes instead. */
const ERROR_BODY_MAX = 64 * 1024
/** An idle connection closes after this (hosts keep theirs for 65 s). */
const IDLE_CLOSE_MS = 30_000
/** Idle connections kept per host. */
const MAX_IDLE = 8

const HASH_RE = /^[0-9a-f]{64}$/
/** Transfer tokens are base64url parts joined by dots; nothing that could end a header line. */
const TOKEN_RE = /^[A-Za-z0-9._~+/=-]{1,4096}$/
const STATUS_RE = /^HTTP\/1\.[01] (\d{3})(?: |$)/
const CRLF2 = Buffer.from('\r\n\r\n')

export interface GetOptions {
  signal?: AbortSignal | undefined
  /** Abort when no byte moves for this long. */
  idleTimeoutMs?: number | undefined
}

export interface GetResult {
  /** Milliseconds from the request to the end of the response headers. */
  firstByteMs: number
}

interface Exchange {
  dst: Buffer
  /** Bytes of the body in `dst` so far (200), or of the error body in `errorBody`. */
  off: number
  status: number
  contentLength: number
  keepAlive: boolean
  headersDone: boolean
  /** Any byte of the response arrived. */
  anyByte: boolean
  errorBody: Buffer | null
  start: number
  firstByteMs: number
  resolve(r: GetResult): void
  reject(err: XError): void
}

/**
 * Failures of a reused keep-alive connection before any byte of the answer: the host had probably
 * closed it while it sat idle, and the same request on a new connection can succeed.
 */
const staleFailures = new WeakSet<XError>()

class ShardConnection {
  readonly socket: tls.TLSSocket
  /** Completed exchanges (a reused connection may have been closed by the host meanwhile). */
  uses = 0
  closed = false
  private readonly head = Buffer.allocUnsafe(HEAD_MAX)
  private headLen = 0
  private ex: Exchange | null = null

  constructor(readonly host: HostContact, private readonly url: URL, private readonly onIdle: (c: ShardConnection) => void, private readonly onClose: (c: ShardConnection) => void) {
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    // `onread` is a net.Socket option that tls.connect honours too (Node >= 14.18); its typings
    // only list it for net.
    const options: tls.ConnectionOptions & { onread: OnReadOpts } = {
      host: hostname,
      port: Number(url.port || 443),
      ca: host.cert,
      checkServerIdentity: (_name: string, cert: PeerCertificate) =>
        cert.fingerprint256 === host.fingerprint
          ? undefined
          : new XError('XC_TLS_PIN', `host ${host.id.slice(0, 12)} presented ${cert.fingerprint256}`),
      onread: { buffer: () => this.nextBuffer(), callback: (n: number) => this.onRead(n) },
    }
    this.socket = tls.connect(options)
    this.socket.setNoDelay(true)
    this.socket.on('error', (err) => this.fail(err instanceof XError ? err : toXError(err)))
    this.socket.on('timeout', () => this.fail(new XError('XC_TIMEOUT', `host ${this.host.id.slice(0, 12)} idle`)))
    this.socket.on('end', () => this.fail(new XError('XC_HOST_UNREACHABLE', 'host closed the connection')))
    this.socket.on('close', () => this.fail(new XError('XC_HOST_UNREACHABLE', 'host closed the connection')))
  }

  /** Send one GET; the body goes into `dst`, which must be exactly the expected size. */
  get(path: string, token: string, dst: Buffer, opts: GetOptions): Promise<GetResult> {
    return new Promise<GetResult>((resolve, reject) => {
      if (this.closed || this.ex) {
        reject(new XError('XC_INTERNAL', 'shard connection is not free'))
        return
      }
      const start = performance.now()
      const ex: Exchange = {
        dst, off: 0, status: 0, contentLength: -1, keepAlive: true, headersDone: false, anyByte: false, errorBody: null,
        start, firstByteMs: 0, resolve, reject,
      }
      const signal = opts.signal
      if (signal) {
        if (signal.aborted) {
          reject(new XError('XC_TIMEOUT', 'transfer cancelled'))
          return
        }
        const onAbort = (): void => this.fail(new XError('XC_TIMEOUT', 'transfer cancelled'))
        signal.addEventListener('abort', onAbort, { once: true })
        ex.resolve = (r) => { signal.removeEventListener('abort', onAbort); resolve(r) }
        ex.reject = (e) => { signal.removeEventListener('abort', onAbort); reject(e) }
      }
      this.ex = ex
      this.headLen = 0
      this.socket.setTimeout(opts.idleTimeoutMs ?? 15_000)
      const auth = token ? `authorization: XC-Token ${token}\r\n` : ''
      this.socket.write(`GET ${path} HTTP/1.1\r\nhost: ${this.url.host}\r\n${auth}\r\n`)
    })
  }

  /** Where TLS puts the next decrypted bytes; never empty. */
  private nextBuffer(): Buffer {
    const ex = this.ex
    if (ex?.headersDone) {
      if (ex.errorBody) return ex.errorBody.subarray(ex.off)
      if (ex.off < ex.dst.length) return ex.dst.subarray(ex.off)
    }
    return this.headLen < HEAD_MAX ? this.head.subarray(this.headLen) : this.head
  }

  private onRead(n: number): boolean {
    const ex = this.ex
    if (!ex) {
      // Bytes nobody asked for: the host is not speaking our protocol.
      this.destroy()
      return false
    }
    ex.anyByte = true
    if (!ex.headersDone) {
      this.headLen += n
      this.parseHead(ex)
    } else {
      ex.off += n
      this.maybeDone(ex)
    }
    return true
  }

  private parseHead(ex: Exchange): void {
    const end = this.head.subarray(0, this.headLen).indexOf(CRLF2)
    if (end < 0) {
      if (this.headLen >= HEAD_MAX) this.fail(new XError('XC_HOST_UNREACHABLE', 'host sent response headers over 16 KiB'))
      return
    }
    const lines = this.head.toString('latin1', 0, end).split('\r\n')
    const status = STATUS_RE.exec(lines[0]!)
    if (!status) return this.fail(new XError('XC_HOST_UNREACHABLE', 'host sent a malformed HTTP response'))
    ex.status = Number(status[1])
    let chunked = false
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!
      const colon = line.indexOf(':')
      if (colon <= 0) return this.fail(new XError('XC_HOST_UNREACHABLE', 'host sent a malformed HTTP header'))
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (ex.contentLength >= 0 && ex.contentLength !== Number(value))) {
          return this.fail(new XError('XC_HOST_UNREACHABLE', 'host sent an invalid Content-Length'))
        }
        ex.contentLength = Number(value)
      } else if (name === 'transfer-encoding') chunked = true
      else if (name === 'connection' && value.toLowerCase().includes('close')) ex.keepAlive = false
    }
    ex.headersDone = true
    ex.firstByteMs = performance.now() - ex.start
    const rest = this.head.subarray(end + 4, this.headLen)
    if (ex.status !== 200) {
      if (chunked || ex.contentLength < 0 || ex.contentLength > ERROR_BODY_MAX) {
        // Not worth reading: answer with the status alone and drop the connection.
        return this.fail(fromWire(ex.status, undefined))
      }
      ex.errorBody = Buffer.alloc(ex.contentLength)
    } else {
      if (chunked || ex.contentLength < 0) return this.fail(new XError('XC_HOST_UNREACHABLE', 'host sent a shard without Content-Length'))
      if (ex.contentLength !== ex.dst.length) {
        return this.fail(new XError('XC_SIZE_MISMATCH', `host sends ${ex.contentLength} bytes for a ${ex.dst.length}-byte shard`))
      }
    }
    const into = ex.errorBody ?? ex.dst
    if (rest.length > into.length) return this.fail(new XError('XC_HOST_UNREACHABLE', 'host sent more than it announced'))
    rest.copy(into, 0)
    ex.off = rest.length
    this.maybeDone(ex)
  }

  private maybeDone(ex: Exchange): void {
    const want = ex.errorBody ? ex.errorBody.length : ex.dst.length
    if (ex.off < want) return
    this.ex = null
    this.headLen = 0
    this.uses++
    if (ex.errorBody) {
      let json: unknown
      try { json = JSON.parse(ex.errorBody.toString('utf8')) } catch { json = undefined }
      ex.reject(fromWire(ex.status, json))
    } else {
      ex.resolve({ firstByteMs: ex.firstByteMs })
    }
    if (!ex.keepAlive) this.destroy()
    else {
      this.socket.setTimeout(IDLE_CLOSE_MS)
      this.onIdle(this)
    }
  }

  /** End the exchange in flight (if any) with `err` and close the connection. */
  private fail(err: XError): void {
    const ex = this.ex
    this.ex = null
    this.destroy()
    if (ex) {
      if (!ex.anyByte && this.uses > 0) staleFailures.add(err)
      ex.reject(err)
    }
  }

  destroy(): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
    this.onClose(this)
  }
}

interface HostPool {
  fingerprint: string
  idle: ShardConnection[]
  open: Set<ShardConnection>
}

const pools = new Map<string, HostPool>()

function poolFor(host: HostContact): HostPool {
  const known = pools.get(host.id)
  if (known && known.fingerprint === host.fingerprint) return known
  if (known) for (const c of known.open) c.destroy()
  const pool: HostPool = { fingerprint: host.fingerprint, idle: [], open: new Set() }
  pools.set(host.id, pool)
  return pool
}

function connection(host: HostContact, url: URL, fresh: boolean): ShardConnection {
  const pool = poolFor(host)
  if (!fresh) {
    for (let c = pool.idle.pop(); c; c = pool.idle.pop()) if (!c.closed) return c
  }
  const c = new ShardConnection(host, url,
    (idle) => {
      if (pools.get(host.id) !== pool || pool.idle.length >= MAX_IDLE) idle.destroy()
      else pool.idle.push(idle)
    },
    (gone) => {
      pool.open.delete(gone)
      const i = pool.idle.indexOf(gone)
      if (i >= 0) pool.idle.splice(i, 1)
    })
  pool.open.add(c)
  return c
}

/**
 * GET /shards/:hash from `host` into `dst` (exactly the shard's size). Rejects with the host's
 * XError, XC_SIZE_MISMATCH when the host announces another length, XC_TIMEOUT when no byte moves
 * for `idleTimeoutMs` or the signal aborts, XC_HOST_UNREACHABLE for anything else. After a
 * rejection nothing writes into `dst` any more.
 */
export async function getInto(host: HostContact, token: string, hash: string, dst: Buffer, opts: GetOptions = {}): Promise<GetResult> {
  if (!HASH_RE.test(hash)) throw new XError('XC_BAD_HASH')
  if (token && !TOKEN_RE.test(token)) throw new XError('XC_TOKEN_INVALID', 'transfer token has characters a token never has')
  let url: URL
  try {
    url = new URL(`/shards/${hash}`, host.url)
  } catch {
    throw new XError('XC_HOST_UNREACHABLE', `host ${host.id.slice(0, 12)} has an invalid URL`)
  }
  if (url.protocol !== 'https:') throw new XError('XC_HOST_UNREACHABLE', `host ${host.id.slice(0, 12)} is not an https URL`)
  try {
    return await connection(host, url, false).get(url.pathname, token, dst, opts)
  } catch (err) {
    if (!(err instanceof XError) || !staleFailures.has(err) || opts.signal?.aborted) throw err
    return connection(host, url, true).get(url.pathname, token, dst, opts)
  }
}

/** Close every shard connection (end of a command, or tests). */
export function closeShardConnections(): void {
  for (const pool of pools.values()) for (const c of [...pool.open]) c.destroy()
  pools.clear()
}
