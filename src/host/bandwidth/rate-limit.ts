/**
 * One direction's bandwidth limit as the owner set it, changeable while the host serves. Routes
 * read `bucket` per request (null = unlimited). A new rate is given to the existing bucket, so
 * transfers in flight follow it; a limit that is lifted or newly set applies from the next request.
 */
import { performance } from 'node:perf_hooks'
import { TokenBucket } from './token-bucket.js'

export class RateLimit {
  private current: TokenBucket | null

  /** Bytes per second, or null for unlimited. */
  constructor(rate: number | null) {
    this.current = rate ? new TokenBucket(rate, undefined, performance.now()) : null
  }

  get bucket(): TokenBucket | null {
    return this.current
  }

  get rate(): number | null {
    return this.current?.rate ?? null
  }

  set(rate: number | null): void {
    if (!rate) this.current = null
    else if (this.current) this.current.setRate(rate, performance.now())
    else this.current = new TokenBucket(rate, undefined, performance.now())
  }
}
