/**
 * A token bucket for bytes, with debt: `take(n)` always succeeds at once and answers how long the
 * caller must wait before those n bytes may cross the wire. Callers that arrive while the bucket is
 * in debt queue behind the earlier ones by construction, so one bucket shared by every connection
 * of a direction keeps the sum at `rate` and stays roughly fair without a scheduler.
 * Time is passed in (milliseconds, monotonic), which keeps the class pure and testable.
 */

/** A quarter second of traffic, but never less than 256 KiB so small rates still move whole TLS records. */
export function defaultBurst(rate: number): number {
  return Math.max(Math.floor(rate / 4), 256 * 1024)
}

export class TokenBucket {
  readonly rate: number
  readonly burst: number
  private tokens: number
  private last: number

  /** `rate` in bytes per second; the bucket starts full. */
  constructor(rate: number, burst = defaultBurst(rate), now = 0) {
    if (!(rate > 0)) throw new RangeError('rate must be positive')
    this.rate = rate
    this.burst = burst
    this.tokens = burst
    this.last = now
  }

  /** Spend n bytes; returns the milliseconds to wait before sending them (0 = now). */
  take(n: number, now: number): number {
    this.refill(now)
    this.tokens -= n
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate
  }

  /** Bytes available right now (negative while in debt). */
  available(now: number): number {
    this.refill(now)
    return this.tokens
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000)
      this.last = now
    }
  }
}
