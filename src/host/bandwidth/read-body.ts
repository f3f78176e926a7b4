/**
 * Read a request body of known size into one buffer, counting and (when a bucket is given)
 * throttling it on the wire. Shards are at most 2 MiB, so one buffer per upload in flight is a
 * bounded cost, and it replaces tens of thousands of per-chunk stream and promise hops per
 * gigabyte (TLS hands over 16 KiB at a time) with one copy per chunk. Throttling pauses the
 * socket: unread bytes stay in the kernel, so TCP flow control slows the sender.
 */
import type { IncomingMessage } from 'node:http'
import { performance } from 'node:perf_hooks'
import { xerr } from '../../shared/errors.js'
import type { TokenBucket } from './token-bucket.js'

export function readBody(req: IncomingMessage, into: Buffer, bucket: TokenBucket | null, count: (n: number) => void): Promise<Buffer> {
  const size = into.length
  return new Promise<Buffer>((resolve, reject) => {
    const data = into
    let received = 0
    let timer: NodeJS.Timeout | undefined
    const cleanup = (): void => {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('aborted', onAborted)
      req.off('close', onClose)
    }
    const fail = (err: unknown): void => {
      cleanup()
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      count(chunk.length)
      if (received + chunk.length > size) {
        fail(xerr('XC_SIZE_MISMATCH', `body is longer than the announced ${size} bytes`))
        return
      }
      chunk.copy(data, received)
      received += chunk.length
      if (bucket) {
        const wait = bucket.take(chunk.length, performance.now())
        if (wait > 0) {
          req.pause()
          timer = setTimeout(() => req.resume(), Math.ceil(wait))
        }
      }
    }
    const onEnd = (): void => {
      cleanup()
      if (received !== size) reject(xerr('XC_SIZE_MISMATCH', `body has ${received} bytes, expected ${size}`))
      else resolve(data)
    }
    const onError = (err: Error): void => fail(err)
    const onAborted = (): void => fail(xerr('XC_BAD_REQUEST', 'upload aborted before the whole body arrived'))
    const onClose = (): void => { if (!req.complete) onAborted() }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('aborted', onAborted)
    req.on('close', onClose)
  })
}
