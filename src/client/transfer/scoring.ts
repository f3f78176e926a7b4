/**
 * Host scoring for mirror choice: each host's measured throughput, latency and the requests we
 * have in flight to it. `pickMirror` is a pure function: given the candidate mirrors' stats it
 * returns the one expected to finish a shard first, which is what spreads a file's reads over
 * every host that holds it (a busy host looks slower, so the next shard goes elsewhere).
 */

export interface HostStat {
  id: string
  /** Requests in flight to this host from this client. */
  inflight: number
  /** Estimated aggregate bytes/ms this host delivers to us (EWMA). */
  rate: number
  /** Estimated time to first byte, ms (EWMA). */
  latencyMs: number
  /** Recent failures (decays on success). */
  failures: number
  /**
   * Requests measured. While 0, `rate` and `latencyMs` are a guess: the prior below until some host
   * of this network is measured, then the measured hosts' mean.
   */
  samples: number
}

/** Optimistic prior so unmeasured hosts get tried while nothing is measured: 200 MB/s, 5 ms. */
const PRIOR_RATE = 200_000
const PRIOR_LATENCY = 5
const ALPHA = 0.3

export function expectedMs(s: HostStat, size: number): number {
  return s.latencyMs + ((s.inflight + 1) * size) / s.rate + s.failures * 2_000
}

/** The candidate expected to finish `size` bytes first; ties broken by `rand`. */
export function pickMirror(candidates: readonly HostStat[], size: number, rand: () => number = Math.random): HostStat | undefined {
  let best: HostStat | undefined
  let bestCost = Infinity
  for (const c of candidates) {
    const cost = expectedMs(c, size) * (1 + rand() * 0.05)
    if (cost < bestCost) { best = c; bestCost = cost }
  }
  return best
}

export class HostScores {
  private readonly stats = new Map<string, HostStat>()
  /** The guess for hosts not measured yet (see HostStat.samples). */
  private typical = { rate: PRIOR_RATE, latencyMs: PRIOR_LATENCY }

  get(id: string): HostStat {
    let s = this.stats.get(id)
    if (!s) {
      s = { id, inflight: 0, rate: this.typical.rate, latencyMs: this.typical.latencyMs, failures: 0, samples: 0 }
      this.stats.set(id, s)
    }
    return s
  }

  begin(id: string): { concurrent: number } {
    const s = this.get(id)
    s.inflight++
    return { concurrent: s.inflight }
  }

  /** A request finished: `concurrent` is how many were in flight to that host when it started. */
  success(id: string, bytes: number, ms: number, firstByteMs: number, concurrent: number): void {
    const s = this.get(id)
    s.inflight = Math.max(0, s.inflight - 1)
    const aggregate = (bytes / Math.max(ms, 0.5)) * Math.max(1, concurrent)
    if (s.samples === 0) {
      s.rate = aggregate
      s.latencyMs = firstByteMs
    } else {
      // The time per byte is averaged, not the speed. A limited host's first shards come out of
      // its burst allowance (and the sockets' buffers) at many times its rate: 2 MiB in 6 ms from
      // a host held to 16 MB/s. Averaged as a speed, one such sample made the host look seven
      // times faster than it was; the next shards piled up behind it and their hedges sent bytes
      // twice.
      s.rate = 1 / ((1 - ALPHA) / s.rate + ALPHA / aggregate)
      s.latencyMs = s.latencyMs * (1 - ALPHA) + firstByteMs * ALPHA
    }
    s.samples++
    s.failures = Math.max(0, s.failures - 1)
    this.updateGuesses()
  }

  failure(id: string): void {
    const s = this.get(id)
    s.inflight = Math.max(0, s.inflight - 1)
    s.failures = Math.min(s.failures + 1, 10)
  }

  /** A request we abandoned (hedge lost): no judgement on the host. */
  cancelled(id: string): void {
    const s = this.get(id)
    s.inflight = Math.max(0, s.inflight - 1)
  }

  snapshot(): HostStat[] {
    return [...this.stats.values()].map((s) => ({ ...s }))
  }

  /**
   * Hosts not measured yet are guessed to be like the measured ones. With the optimistic prior
   * kept until their own first answer, they looked ten times faster than hosts held to 16 MB/s,
   * and every shard they held went to them at once: eight in flight to one host, while the
   * measured ones waited.
   */
  private updateGuesses(): void {
    let n = 0
    let rate = 0
    let latency = 0
    for (const s of this.stats.values()) {
      if (s.samples === 0) continue
      n++
      rate += s.rate
      latency += s.latencyMs
    }
    if (n === 0) return
    this.typical = { rate: rate / n, latencyMs: latency / n }
    for (const s of this.stats.values()) {
      if (s.samples > 0) continue
      s.rate = this.typical.rate
      s.latencyMs = this.typical.latencyMs
    }
  }
}
