/**
 * Shard uploads on connections of their own.
 *
 * A client that offers the TLS application protocol SHARD_PUT_ALPN (ALPN) gets a connection whose
 * requests this module reads instead of Node's HTTP server: HTTP/1.1 `PUT /shards/:hash` with a
 * Content-Length, one at a time, keep-alive. TLS decrypts each body straight into the shard's
 * buffer (user-buffer.ts). On the ordinary path every 16 KiB TLS record becomes a new Buffer that
 * goes through the socket's stream, the HTTP parser and the request stream before it is copied
 * into that buffer; receiving a gigabyte that way cost the host about half as much CPU again as
 * here (bench/RESULTS.md), and a put moves three.
 *
 * The checks, the store and the answers are the PUT route's (shards.ts: acceptPut), so both paths
 * answer the same codes. A request refused before its body (a bad token, no space) has its body
 * read and dropped, then the error answered, and the connection carries on, as Node does for the
 * route. Anything that is not such a PUT, or a head that cannot be parsed, is answered with
 * XC_BAD_REQUEST and the connection closes: the client asked for this protocol.
 */
import { STATUS_CODES } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import { XError, xerr } from '../../shared/errors.js'
import { SHARD_PUT_ALPN, SHARD_SIZE } from '../../shared/protocol.js'
import { acceptPut, type AcceptedPut, type ShardRouteDeps } from './shards.js'
import { readIntoBuffers, userBufferReadsAvailable } from './user-buffer.js'

/** Request line and headers must fit in this (as for the HTTP server). */
const HEAD_MAX = 16 * 1024
/**
 * Bytes held while no body buffer is ready: a head, then whatever follows it before the request
 * is accepted. Pausing a TLS socket stops its TCP reads, but the records already read are still
 * decrypted and handed over: up to one TCP read (64 KiB) more.
 */
const PENDING_MAX = HEAD_MAX + 256 * 1024

/**
 * Where every connection reads what is not a body: heads, bytes ahead of their turn, dropped
 * bodies. Each read is taken out of it in its own callback, before any other read can land, so
 * one buffer serves all connections, and an idle connection holds no buffer of its own (a host
 * is open to anyone: ten thousand idle connections must not hold ten thousand buffers).
 */
const shared = Buffer.allocUnsafe(HEAD_MAX)
/** A connection with no request and no byte for this long closes (as the HTTP server's keep-alive). */
const IDLE_MS = 65_000
/** A request's head must arrive within this; its whole body within REQUEST_MS (as for the route). */
const HEAD_MS = 60_000
const REQUEST_MS = 15 * 60_000

/** See throttled(). */
const THROTTLE_SLACK_MS = 25

const PATH_RE = /^\/shards\/([^/?#]*)$/
const CRLF2 = Buffer.from('\r\n\r\n')

type State = 'head' | 'body' | 'discard' | 'busy' | 'closed'

interface Head {
  method: string
  target: string
  headers: Map<string, string>
  keepAlive: boolean
}

/**
 * Hand connections that negotiated SHARD_PUT_ALPN to `uploads`, every other one to the HTTP
 * server as before. Call once, after the server exists and before it listens.
 */
export function routeShardUploads(server: TlsServer, uploads: ShardUploads): void {
  const http = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[]
  server.removeAllListeners('secureConnection')
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === SHARD_PUT_ALPN && uploads.accept(socket)) return
    for (const listener of http) listener.call(server, socket)
  })
}

/** The TLS application protocols a host offers: ours when this Node can serve it, then HTTP/1.1. */
export function hostAlpnProtocols(): string[] {
  return userBufferReadsAvailable() ? [SHARD_PUT_ALPN, 'http/1.1'] : ['http/1.1']
}

export class ShardUploads {
  private readonly connections = new Set<UploadConnection>()
  private closing = false

  constructor(private readonly deps: ShardRouteDeps, private readonly log: { warn(o: object, msg: string): void }) {}

  /** Take over a socket that negotiated SHARD_PUT_ALPN. False if this Node cannot (the caller serves it as HTTP). */
  accept(socket: TLSSocket): boolean {
    if (this.closing) {
      socket.destroy()
      return true
    }
    const c = new UploadConnection(this, this.deps, socket)
    if (!c.start()) return false
    this.connections.add(c)
    return true
  }

  /** Stop taking requests: idle connections close now, busy ones after their answer. */
  close(): void {
    this.closing = true
    for (const c of this.connections) c.closeWhenIdle()
  }

  /** Cut every connection (the end of the close grace). */
  destroyAll(): void {
    for (const c of this.connections) c.destroy()
  }

  get isClosing(): boolean {
    return this.closing
  }

  /** @internal */
  forget(c: UploadConnection): void {
    this.connections.delete(c)
  }

  /** @internal */
  warn(err: unknown, msg: string): void {
    this.log.warn({ err: String(err) }, msg)
  }
}

class UploadConnection {
  private state: State = 'head'
  /** Bytes read and not yet used (a head, what follows it), while there are any. */
  private held: Buffer | null = null
  private heldLen = 0
  /** How much of what is held was searched for the end of a head. */
  private scanned = 0
  /** The buffer handed to TLS for the next read. */
  private current: Buffer = shared
  private put: AcceptedPut | null = null
  private bodyOff = 0
  private discardLeft = 0
  /** The answer due once a dropped body is read. */
  private refusal: XError | null = null
  private keepAlive = true
  private closeAfter = false
  private throttle: NodeJS.Timeout | undefined
  private destroyed = false
  private deadline: NodeJS.Timeout | undefined

  constructor(private readonly owner: ShardUploads, private readonly deps: ShardRouteDeps, private readonly socket: TLSSocket) {}

  start(): boolean {
    const s = this.socket
    const early: Buffer[] = []
    if (!readIntoBuffers(s, () => this.nextBuffer(), (n) => this.onRead(n), (chunk) => early.push(chunk))) return false
    s.setNoDelay(true)
    s.setTimeout(IDLE_MS)
    s.on('timeout', () => this.onIdle())
    s.on('error', () => this.destroy())
    s.on('end', () => this.destroy())
    s.on('close', () => this.destroy())
    for (const chunk of early) this.hold(chunk)
    s.resume()
    this.advance()
    return true
  }

  closeWhenIdle(): void {
    this.closeAfter = true
    if (this.state === 'head' && this.heldLen === 0) this.end()
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.state = 'closed'
    clearTimeout(this.throttle)
    clearTimeout(this.deadline)
    this.socket.destroy()
    // An upload cut mid-body stores nothing: its buffer and reserved space go back (no more
    // reads can land in the buffer once the socket is destroyed). One being stored is finish()'s.
    this.put?.release()
    this.put = null
    this.owner.forget(this)
  }

  /** Closing reads on until the client's end arrives, which completes the close (see onRead). */
  private isClosed(): boolean {
    return this.state === 'closed'
  }

  /** Where TLS puts the next decrypted bytes: the rest of the body, or the shared buffer. Never empty. */
  private nextBuffer(): Buffer {
    let next: Buffer = shared
    if (this.state === 'body' && this.put && this.bodyOff < this.put.buf.length) next = this.put.buf.subarray(this.bodyOff)
    else if (this.state === 'discard' && this.discardLeft > 0 && this.discardLeft < shared.length) next = shared.subarray(0, this.discardLeft)
    this.current = next
    return next
  }

  /**
   * `n` bytes arrived in the buffer handed out last. Body bytes in their place are the common
   * case; anything else is in the shared buffer (or, when the state changed since the buffer was
   * chosen, a request accepted after an await, in a buffer chosen for the state before) and is
   * placed by state at once: one record's worth per request at most.
   */
  private onRead(n: number): boolean {
    // Closing: read on (and drop) until the client's end arrives, which completes the close.
    if (this.state === 'closed') return true
    const put = this.put
    if (this.state === 'body' && put && sameMemory(this.current, put.buf, this.bodyOff)) {
      this.bodyOff += n
      this.deps.traffic.countIn(n)
      if (this.bodyOff < put.buf.length) return this.throttled(n)
      this.state = 'busy'
      void this.finish(put)
      return false
    }
    this.ingest(this.current.subarray(0, n))
    return this.afterBytes(n)
  }

  /** Bytes from anywhere, placed by state: body, dropped body, or held. */
  private ingest(bytes: Buffer): void {
    while (bytes.length > 0) {
      const put = this.put
      if (this.state === 'body' && put) {
        const k = Math.min(bytes.length, put.buf.length - this.bodyOff)
        bytes.copy(put.buf, this.bodyOff, 0, k)
        this.bodyOff += k
        this.deps.traffic.countIn(k)
        bytes = bytes.subarray(k)
        if (this.bodyOff >= put.buf.length) {
          this.state = 'busy'
          void this.finish(put)
        }
      } else if (this.state === 'discard') {
        const k = Math.min(bytes.length, this.discardLeft)
        this.discardLeft -= k
        this.deps.traffic.countIn(k)
        bytes = bytes.subarray(k)
        if (this.discardLeft <= 0) this.answerRefusal()
      } else if (this.state === 'head' || this.state === 'busy') {
        this.hold(bytes)
        return
      } else {
        return
      }
    }
  }

  /** After a read: whether to keep reading. */
  private afterBytes(n: number): boolean {
    if (this.heldLen >= PENDING_MAX && (this.state === 'head' || this.state === 'busy')) {
      // Requests piling up behind one another, unanswered.
      this.refuse(xerr('XC_BAD_REQUEST', 'too many bytes ahead of the answer'))
      return false
    }
    switch (this.state) {
      case 'head':
        return this.advance()
      case 'body':
      case 'discard':
        return this.throttled(n)
      default:
        // Closing reads on until the client's end (see onRead); busy waits for its answer.
        return this.state === 'closed'
    }
  }

  private answerRefusal(): void {
    const refusal = this.refusal!
    this.refusal = null
    this.state = 'busy'
    this.answer(refusal.status, refusal.toJSON())
  }

  /** Keep `bytes` (copied) behind those already held, up to PENDING_MAX; the buffer grows as needed. */
  private hold(bytes: Buffer): void {
    const need = Math.min(PENDING_MAX, this.heldLen + bytes.length)
    if (!this.held || this.held.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(PENDING_MAX, Math.max(need, 2 * (this.held?.length ?? 0), 4096)))
      this.held?.copy(grown, 0, 0, this.heldLen)
      this.held = grown
    }
    const k = need - this.heldLen
    bytes.copy(this.held, this.heldLen, 0, k)
    this.heldLen += k
  }

  /** Start the request held if its head is complete. Whether to keep reading. */
  private advance(): boolean {
    const held = this.held
    if (this.state !== 'head' || !held || this.heldLen === 0) return true
    if (this.deadline === undefined) this.deadline = setTimeout(() => this.timedOut(), HEAD_MS)
    // Only the bytes new since the last look are searched (a head may come a byte at a time).
    const end = held.subarray(0, Math.min(this.heldLen, HEAD_MAX)).indexOf(CRLF2, Math.max(0, this.scanned - 3))
    if (end < 0) {
      this.scanned = Math.min(this.heldLen, HEAD_MAX)
      if (this.heldLen >= HEAD_MAX) {
        this.refuse(xerr('XC_BAD_REQUEST', `request headers too large (limit ${HEAD_MAX / 1024} KiB)`))
        return this.isClosed()
      }
      return true
    }
    let head: Head
    try {
      head = parseHead(held.toString('latin1', 0, end))
    } catch (err) {
      this.refuse(err instanceof XError ? err : xerr('XC_BAD_REQUEST', 'malformed HTTP request'))
      return this.isClosed()
    }
    // What follows the head stays held: the body's first bytes (and, after them, perhaps the next
    // request), with more to come until the request is accepted (see PENDING_MAX).
    this.takeHeld(end + 4)
    this.state = 'busy'
    this.keepAlive = head.keepAlive
    void this.begin(head)
    return false
  }

  private async begin(head: Head): Promise<void> {
    clearTimeout(this.deadline)
    this.deadline = setTimeout(() => this.timedOut(), REQUEST_MS)
    const m = PATH_RE.exec(head.target)
    if (head.method !== 'PUT' || !m) {
      this.refuse(xerr('XC_BAD_REQUEST', `a ${SHARD_PUT_ALPN} connection carries PUT /shards/:hash only, not ${head.method} ${head.target.slice(0, 100)}`))
      return
    }
    if (head.headers.has('transfer-encoding')) {
      this.refuse(xerr('XC_LENGTH_REQUIRED', 'shard bodies have a Content-Length, not a transfer encoding'))
      return
    }
    const lengthHeader = head.headers.get('content-length')
    const length = lengthHeader !== undefined && /^\d{1,10}$/.test(lengthHeader) ? Number(lengthHeader) : -1
    if (lengthHeader !== undefined && length < 0) {
      this.refuse(xerr('XC_BAD_REQUEST', 'malformed Content-Length'))
      return
    }
    if (head.headers.get('expect')?.toLowerCase() === '100-continue') this.socket.write('HTTP/1.1 100 Continue\r\n\r\n')
    if (this.owner.isClosing) {
      this.closeAfter = true
      this.dropThenAnswer(new XError('XC_UNAVAILABLE', 'host is shutting down'), length)
      return
    }
    let put: AcceptedPut
    try {
      put = await acceptPut(this.deps, decodeURIComponentSafe(m[1]!), head.headers.get('authorization'), lengthHeader)
    } catch (err) {
      if (!(err instanceof XError)) this.owner.warn(err, 'shard upload refused unexpectedly')
      this.dropThenAnswer(err instanceof XError ? err : new XError('XC_INTERNAL', 'internal error'), length)
      return
    }
    if (this.state === 'closed') {
      put.release()
      return
    }
    this.put = put
    const size = put.buf.length
    const first = this.takeHeld(size, put.buf)
    this.bodyOff = first
    this.deps.traffic.countIn(first)
    if (this.bodyOff >= size) {
      await this.finish(put)
      return
    }
    this.state = 'body'
    this.socket.resume()
  }

  /**
   * The first `max` bytes held, copied into `into` (when given) and removed; what is left (the
   * next request) moves to the front. Returns how many were taken.
   */
  private takeHeld(max: number, into?: Buffer): number {
    const held = this.held
    const first = Math.min(this.heldLen, max)
    if (!held) return 0
    if (into) held.copy(into, 0, 0, first)
    held.copyWithin(0, first, this.heldLen)
    this.heldLen -= first
    this.scanned = 0
    if (this.heldLen === 0) this.held = null
    return first
  }

  /**
   * The body is complete: store it and answer. From here the upload is this call's: its buffer is
   * given back only once the store is done with it, whatever happens to the connection meanwhile
   * (a buffer back in the pool could be refilled by another upload while this one is written).
   */
  private async finish(put: AcceptedPut): Promise<void> {
    if (this.put === put) this.put = null
    try {
      const { status, receipt } = await put.finish()
      if (this.state === 'closed') return
      this.answer(status, receipt)
    } catch (err) {
      if (this.state === 'closed') return
      if (!(err instanceof XError)) this.owner.warn(err, 'storing an uploaded shard failed')
      const x = err instanceof XError ? err : new XError('XC_INTERNAL', 'internal error')
      this.answer(x.status, x.toJSON())
    } finally {
      put.release()
    }
  }

  /** Refused before its body: read the body and drop it, then answer, so the connection lives on. */
  private dropThenAnswer(err: XError, length: number): void {
    if (this.state === 'closed') return
    if (length < 0 || length > SHARD_SIZE) {
      // No length to skip by, or more than any shard: answer and close.
      this.refuse(err)
      return
    }
    const first = this.takeHeld(length)
    this.discardLeft = length - first
    this.deps.traffic.countIn(first)
    this.refusal = err
    if (this.discardLeft === 0) {
      this.answerRefusal()
      return
    }
    this.state = 'discard'
    this.socket.resume()
  }

  /** Answer, then close: the rest of what the client sent cannot be read as requests. */
  private refuse(err: XError): void {
    if (this.state === 'closed') return
    this.keepAlive = false
    this.state = 'busy'
    this.answer(err.status, err.toJSON())
  }

  private answer(status: number, body: unknown): void {
    clearTimeout(this.deadline)
    this.deadline = undefined
    const json = JSON.stringify(body)
    const close = !this.keepAlive || this.closeAfter
    const reason = STATUS_CODES[status] ?? 'Error'
    this.socket.write(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(json)}\r\n` +
        `${close ? 'connection: close\r\n' : ''}\r\n${json}`,
    )
    if (close) {
      this.end()
      return
    }
    this.bodyOff = 0
    // A client that sends requests without reading the answers must not pile them up here: the
    // next request waits until the answers written so far have gone out (as Node's HTTP server
    // stops reading while its responses wait).
    if (this.socket.writableNeedDrain) {
      this.state = 'busy'
      this.socket.once('drain', () => {
        if (this.state !== 'busy') return
        this.state = 'head'
        if (this.advance()) this.socket.resume()
      })
      return
    }
    this.state = 'head'
    // The next request may already be here in full.
    if (this.advance()) this.socket.resume()
  }

  /** Finish writing, then close. */
  private end(): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    clearTimeout(this.throttle)
    clearTimeout(this.deadline)
    this.held = null
    this.heldLen = 0
    // An upload cut here keeps its buffer until the socket is destroyed: TLS may still be
    // decrypting into it until then.
    this.socket.end()
    this.socket.resume()
    // A client that never reads its answer cannot hold the connection.
    setTimeout(() => this.socket.destroy(), 5000).unref()
    this.owner.forget(this)
  }

  /** Throttling on the wire: pause until the bucket allows what just arrived. */
  private throttled(n: number): boolean {
    const bucket = this.deps.inLimit.bucket
    if (!bucket) return true
    const wait = bucket.take(n, performance.now())
    // A debt this small is carried, not slept on: pausing per 16 KiB record would spend the rate
    // on pauses and restarts. The bucket keeps the debt, so the rate holds over time.
    if (wait <= THROTTLE_SLACK_MS) return true
    // Bytes already decrypted still arrive after a pause; each read's wait includes the debt
    // before it, so the latest wait is the one to keep.
    clearTimeout(this.throttle)
    this.throttle = setTimeout(() => {
      this.throttle = undefined
      if (this.state === 'body' || this.state === 'discard') this.socket.resume()
    }, Math.ceil(wait))
    return false
  }

  private onIdle(): void {
    // Paused by the rate limit is not idle (look again later); a keep-alive connection with
    // nothing to do is.
    if (this.throttle !== undefined) {
      this.socket.setTimeout(IDLE_MS)
      return
    }
    if (this.state === 'head' && this.heldLen === 0) this.end()
    else this.timedOut()
  }

  private timedOut(): void {
    if (this.state === 'closed') return
    if (this.state === 'busy') return // storing; the answer follows
    this.refuse(new XError('XC_TIMEOUT', 'request took too long'))
  }
}

/** Whether `a` starts at byte `offset` of `b`. */
function sameMemory(a: Buffer, b: Buffer, offset: number): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset + offset
}

/** Request line and headers (latin1, without the final blank line). Throws XC_BAD_REQUEST. */
export function parseHead(text: string): Head {
  const lines = text.split('\r\n')
  const m = /^([A-Z]{1,16}) (\S{1,2048}) HTTP\/1\.([01])$/.exec(lines[0] ?? '')
  if (!m) throw xerr('XC_BAD_REQUEST', 'malformed request line')
  const headers = new Map<string, string>()
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    const colon = line.indexOf(':')
    if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(line.slice(0, colon))) throw xerr('XC_BAD_REQUEST', 'malformed header line')
    const name = line.slice(0, colon).toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (/[\0\r\n]/.test(value)) throw xerr('XC_BAD_REQUEST', 'malformed header value')
    if (headers.has(name)) {
      if (name === 'content-length' || name === 'authorization' || name === 'transfer-encoding') throw xerr('XC_BAD_REQUEST', `header ${name} given twice`)
      headers.set(name, `${headers.get(name)!}, ${value}`)
    } else {
      headers.set(name, value)
    }
  }
  const connection = headers.get('connection')?.toLowerCase() ?? ''
  const keepAlive = m[3] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection)
  return { method: m[1]!, target: m[2]!, headers, keepAlive }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s // then not a hash, and acceptPut says so
  }
}
