/**
 * A token bucket for bytes, with debt: `take(n)` always succeeds at once and answers how long the
 * caller must wait before those n bytes may cross the wire. Callers that arrive while the bucket is
 * in debt queue behind the earlier ones by construction, so one bucket shared by every connection
 * of a direction keeps the sum at `rate` and stays roughly fair without a scheduler.
 * Time is passed in (milliseconds, monotonic), which keeps the class pure and testable.
 * The rate can change while transfers run (`xcore config`): they all share this one bucket, so
 * every transfer in flight follows the new rate from its next slice on.
 */

/** A quarter second of traffic, but never less than 256 KiB so small rates still move whole TLS records. */
export function defaultBurst(rate: number): number {
  return Math.max(Math.floor(rate / 4), 256 * 1024)
}

export class TokenBucket {
  private currentRate: number
  private currentBurst: number
  private tokens: number
  private last: number

  /** `rate` in bytes per second; the bucket starts full. */
  constructor(rate: number, burst = defaultBurst(rate), now = 0) {
    if (!(rate > 0)) throw new RangeError('rate must be positive')
    this.currentRate = rate
    this.currentBurst = burst
    this.tokens = burst
    this.last = now
  }

  get rate(): number {
    return this.currentRate
  }

  get burst(): number {
    return this.currentBurst
  }

  /** Spend n bytes; returns the milliseconds to wait before sending them (0 = now). */
  take(n: number, now: number): number {
    this.refill(now)
    this.tokens -= n
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.currentRate
  }

  /** Bytes available right now (negative while in debt). */
  available(now: number): number {
    this.refill(now)
    return this.tokens
  }

  /**
   * Switch to a new rate (and its default burst). Time so far is credited at the old rate; debt
   * already owed stays owed, so a lowered limit cannot be dodged by a burst taken just before.
   */
  setRate(rate: number, now: number): void {
    if (!(rate > 0)) throw new RangeError('rate must be positive')
    this.refill(now)
    this.currentRate = rate
    this.currentBurst = defaultBurst(rate)
    this.tokens = Math.min(this.tokens, this.currentBurst)
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.currentBurst, this.tokens + ((now - this.last) * this.currentRate) / 1000)
      this.last = now
    }
  }
}
