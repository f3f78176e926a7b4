/**
 * The wire side of bandwidth limits: a Transform that counts every byte passing through (for the
 * heartbeat's bytesIn/bytesOut) and, when a bucket is given, holds each slice back until the bucket
 * allows it. Holding bytes back is what throttles the wire: on a GET the socket gets them later; on
 * a PUT the request stream is read later, so TCP flow control slows the sender.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { performance } from 'node:perf_hooks'
import type { TokenBucket } from './token-bucket.js'

/** Throttled chunks are cut into slices this large (no copy: subarray) so waits stay short and smooth. */
const SLICE = 64 * 1024

export class Throttle extends Transform {
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly bucket: TokenBucket | null,
    private readonly count: (bytes: number) => void,
    highWaterMark = 1024 * 1024,
  ) {
    super({ readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark })
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count(chunk.length)
    if (!this.bucket) {
      cb(null, chunk)
      return
    }
    this.sendFrom(chunk, 0, cb)
  }

  private sendFrom(chunk: Buffer, offset: number, cb: TransformCallback): void {
    const bucket = this.bucket!
    while (offset < chunk.length) {
      const end = Math.min(chunk.length, offset + SLICE)
      const piece = offset === 0 && end === chunk.length ? chunk : chunk.subarray(offset, end)
      const wait = bucket.take(piece.length, performance.now())
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined
          this.push(piece)
          this.sendFrom(chunk, end, cb)
        }, Math.ceil(wait))
        return
      }
      this.push(piece)
      offset = end
    }
    cb()
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    cb(err)
  }
}

/** Cumulative traffic since the host started. */
export class TrafficCounter {
  bytesIn = 0
  bytesOut = 0
  readonly countIn = (n: number): void => {
    this.bytesIn += n
  }
  readonly countOut = (n: number): void => {
    this.bytesOut += n
  }
}
