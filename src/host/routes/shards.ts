/**
 * PUT and GET /shards/:hash. Every request carries a bridge-signed transfer token scoped to one
 * shard, one host and one operation; the host checks it against the bridge key pinned at init and
 * never learns who the client is. A successful PUT answers a signed receipt, the host's word that
 * the shard is durably stored, which the client hands to the bridge at commit.
 * Outside the owner's online hours both are refused with XC_OFF_SCHEDULE (after the token check,
 * so bad input still gets its 4xx). A PUT of a shard already held marks it stored again, so a
 * delete order issued before that PUT leaves it alone (storage/shard-store.ts).
 */
import { pipeline } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { KeyObject } from 'node:crypto'
import { createHash } from 'node:crypto'
import { XError, xerr } from '../../shared/errors.js'
import { HASH_RE, signReceipt, tokenFromHeader, verifyTransferToken, type Receipt, type TokenOp, type TransferClaims } from '../../shared/tokens.js'
import type { ShardStore } from '../storage/shard-store.js'
import { Throttle, type TrafficCounter } from '../bandwidth/throttle.js'
import type { RateLimit } from '../bandwidth/rate-limit.js'
import { decideRange } from './range.js'
import { readBody } from '../bandwidth/read-body.js'
import { BufferPool } from '../../shared/buffer-pool.js'
import { SHARD_SIZE } from '../../shared/protocol.js'
import { readInto } from '../../shared/direct-io.js'

export interface ShardRouteDeps {
  store: Pick<ShardStore, 'put' | 'openRead' | 'readWhole' | 'reserve' | 'sizeOf' | 'touch' | 'acquireBuffer' | 'releaseBuffer'>
  hostId: string
  hostKey: KeyObject
  bridgeKey: KeyObject
  /** Throttles bytes the host receives (PUT bodies). */
  inLimit: Pick<RateLimit, 'bucket'>
  /** Throttles bytes the host sends (GET bodies). */
  outLimit: Pick<RateLimit, 'bucket'>
  traffic: TrafficCounter
  /** Throws XC_OFF_SCHEDULE outside the owner's online hours. */
  requireOnline: () => void
}

/** Upload and download buffers, reused across requests (see BufferPool). */
const shardBuffers = new BufferPool(SHARD_SIZE, 32)

/** Disk reads come in large pieces: fewer syscalls and larger TLS writes. */
const READ_CHUNK = 1024 * 1024

type ShardRequest = FastifyRequest<{ Params: { hash: string } }>

export function registerShardRoutes(app: FastifyInstance, deps: ShardRouteDeps): void {
  app.put('/shards/:hash', (req: ShardRequest, reply) => putShard(deps, req, reply))
  app.get('/shards/:hash', (req: ShardRequest, reply) => getShard(deps, req, reply))
}

function authorize(deps: ShardRouteDeps, hash: string, header: string | undefined, op: TokenOp): TransferClaims {
  if (!HASH_RE.test(hash)) throw xerr('XC_BAD_HASH')
  const token = tokenFromHeader(header)
  // A header that is there but not `XC-Token <t>` is a broken token, not a missing one.
  if (header !== undefined && token === undefined) throw xerr('XC_TOKEN_INVALID', 'Authorization must be "XC-Token <token>"')
  const claims = verifyTransferToken(deps.bridgeKey, token, { op, hash, host: deps.hostId })
  deps.requireOnline()
  return claims
}

/** A PUT whose request passed every check; its body goes into `buf`, then `finish` stores it. */
export interface AcceptedPut {
  /** Exactly the announced size. */
  buf: Buffer
  /** Check the bytes against the name and store them; the answer's status and the receipt. */
  finish(): Promise<{ status: 200 | 201; receipt: Receipt }>
  /** Give back the buffer and the reserved space; call once, whatever happened. */
  release(): void
}

/**
 * Everything a PUT needs before its body: the token, the sizes, the space. Shared by the route
 * below and by connections of shard-uploads.ts. Throws the XError to answer.
 */
export async function acceptPut(deps: ShardRouteDeps, hash: string, authorization: string | undefined, contentLength: string | undefined): Promise<AcceptedPut> {
  const claims = authorize(deps, hash, authorization, 'put')
  const size = claims.size!
  // The token is the bridge's word, but no shard is larger than this; never allocate for more.
  if (size > SHARD_SIZE) throw xerr('XC_BODY_TOO_LARGE', `a shard is at most ${SHARD_SIZE} bytes`)
  if (contentLength === undefined) throw xerr('XC_LENGTH_REQUIRED')
  const length = Number(contentLength)
  if (length !== size) throw xerr('XC_SIZE_MISMATCH', `Content-Length ${contentLength} differs from the token's size ${size}`, { expected: size })

  const existing = await deps.store.sizeOf(hash)
  if (existing === size) {
    // Idempotent: read the bytes anyway and check them, so a client that sends garbage learns it
    // even when the host already has the real shard.
    const buf = await deps.store.acquireBuffer(size)
    return {
      buf,
      finish: async () => {
        const digest = createHash('sha256').update(buf).digest('hex')
        if (digest !== hash) throw xerr('XC_HASH_MISMATCH', `received bytes hash to ${digest}, not ${hash}`)
        // Stored again now: an older delete order must keep it. If one removed it since the size
        // check above, these verified bytes are stored afresh, so the receipt is never a lie.
        if (!(await deps.store.touch(hash))) {
          const reservation = deps.store.reserve(size)
          try {
            await deps.store.put(hash, buf)
          } finally {
            reservation.release()
          }
        }
        return { status: 200, receipt: receiptFor(deps, hash, size) }
      },
      release: once(() => deps.store.releaseBuffer(buf)),
    }
  }

  const reservation = deps.store.reserve(size)
  let buf: Buffer
  try {
    buf = await deps.store.acquireBuffer(size)
  } catch (err) {
    reservation.release()
    throw err
  }
  return {
    buf,
    finish: async () => {
      const { created } = await deps.store.put(hash, buf)
      return { status: created ? 201 : 200, receipt: receiptFor(deps, hash, size) }
    },
    release: once(() => {
      deps.store.releaseBuffer(buf)
      reservation.release()
    }),
  }
}

function once(f: () => void): () => void {
  let done = false
  return () => {
    if (done) return
    done = true
    f()
  }
}

async function putShard(deps: ShardRouteDeps, req: ShardRequest, reply: FastifyReply): Promise<Receipt> {
  // Until the body stream is created, an early error lets Node discard the unread body and keep
  // the connection; after that, a failure mid-body must close it (see readFailed).
  const put = await acceptPut(deps, req.params.hash, req.headers.authorization, req.headers['content-length'])
  try {
    await bodyOf(deps, req, put.buf)
    const { status, receipt } = await put.finish()
    return reply.code(status).send(receipt)
  } catch (err) {
    throw readFailed(req, reply, err)
  } finally {
    put.release()
  }
}

function bodyOf(deps: ShardRouteDeps, req: ShardRequest, into: Buffer): Promise<Buffer> {
  return readBody(req.raw, into, deps.inLimit.bucket, deps.traffic.countIn)
}

/**
 * A failure while the body was being read: if part of it is still unread the connection cannot
 * carry another request, so ask for it to close. A client that went away is not a host bug.
 */
function readFailed(req: ShardRequest, reply: FastifyReply, err: unknown): unknown {
  if (!req.raw.complete) reply.header('connection', 'close')
  if (err instanceof XError) return err
  if (req.raw.destroyed && !req.raw.complete) return xerr('XC_BAD_REQUEST', 'upload aborted before the whole body arrived')
  return err
}

async function getShard(deps: ShardRouteDeps, req: ShardRequest, reply: FastifyReply): Promise<FastifyReply> {
  const hash = req.params.hash
  authorize(deps, hash, req.headers.authorization, 'get')
  if (req.headers.range === undefined && !deps.outLimit.bucket) return sendWhole(deps, hash, req, reply)
  const { fh, size } = await deps.store.openRead(hash)
  const range = decideRange(req.headers.range, size)
  if (range.kind === 'unsatisfiable') {
    await fh.close()
    reply.header('content-range', `bytes */${size}`)
    throw xerr('XC_BAD_RANGE', `cannot serve range "${req.headers.range}" of a ${size}-byte shard`, { size })
  }
  const start = range.kind === 'partial' ? range.start : 0
  const end = range.kind === 'partial' ? range.end : size - 1
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', 'content-length': String(end - start + 1) }
  if (range.kind === 'partial') headers['content-range'] = `bytes ${start}-${end}/${size}`
  const status = range.kind === 'partial' ? 206 : 200
  if (size === 0) {
    await fh.close()
    return reply.code(status).headers(headers).send(Buffer.alloc(0))
  }
  const outBucket = deps.outLimit.bucket
  if (!outBucket) {
    // Unthrottled range: one positional read and one write to the socket (a shard is at most 2 MiB).
    const length = end - start + 1
    const data = shardBuffers.acquire(length)
    // Back to the pool once the response is done with it (sent, or the client went away).
    reply.raw.once('close', () => shardBuffers.release(data))
    try {
      if (await readInto(fh, data, length, start) !== length) throw xerr('XC_NOT_FOUND', `shard ${hash} shrank while being read`)
    } finally {
      await fh.close()
    }
    deps.traffic.countOut(length)
    return sendBody(req, reply, status, headers, data)
  }
  reply.code(status).headers(headers)
  const file = fh.createReadStream({ start, end, highWaterMark: READ_CHUNK, autoClose: true })
  const out = pipeline(file, new Throttle(outBucket, deps.traffic.countOut), (err) => {
    if (err && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') req.log.warn({ err, hash }, 'shard read failed')
  })
  return reply.send(out)
}

/**
 * The common case, a whole shard with no rate limit: one read straight from the device into a
 * buffer of the store's pool, and one write to the socket.
 */
async function sendWhole(deps: ShardRouteDeps, hash: string, req: ShardRequest, reply: FastifyReply): Promise<FastifyReply> {
  const data = await deps.store.readWhole(hash)
  // Back to the pool once the response is done with it (sent, or the client went away).
  reply.raw.once('close', () => deps.store.releaseBuffer(data))
  deps.traffic.countOut(data.length)
  return sendBody(req, reply, 200, { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', 'content-length': String(data.length) }, data)
}

/**
 * Answer `data` as the whole body, the headers in a write of their own. Node's TLS socket joins
 * a write of several pieces (the headers and the body, as a response sends them) into one new
 * buffer before encrypting it, a copy of the whole shard per response (about 8 % of a host's CPU
 * while serving shards, measured); a body written alone is encrypted straight from `data`.
 * A HEAD request goes through fastify, which leaves the body out.
 */
function sendBody(req: ShardRequest, reply: FastifyReply, status: number, headers: Record<string, string>, data: Buffer): FastifyReply {
  if (req.method !== 'GET') return reply.code(status).headers(headers).send(data)
  reply.hijack()
  const res = reply.raw
  res.writeHead(status, headers)
  res.flushHeaders()
  res.end(data)
  return reply
}

/** The host's signed word that it durably holds this shard (after the fsync and rename). */
export function receiptFor(deps: Pick<ShardRouteDeps, 'hostKey' | 'hostId'>, hash: string, size: number): Receipt {
  return signReceipt(deps.hostKey, { host: deps.hostId, h: hash, size, at: Date.now() })
}

