/**
 * The bridge part of the dashboard's status, cached. A page polls every few seconds, and several
 * pages may be open; asking the bridge each time would turn them into load on the bridge, and a
 * bridge that is away would hold every poll for the whole timeout. So:
 * - an answer younger than `freshMs` is used as it is;
 * - an older one, up to `staleMs`, is used at once while one refresh runs in the background;
 * - with none (or only a too-old one) the caller waits, but all callers share one query.
 * Failures are answers too (`error`): they are cached the same way, so an unreachable bridge is
 * retried at most once per `freshMs`.
 */
import { toXError } from '../../shared/errors.js'
import type { HostConfig } from '../config.js'
import type { BridgeAnswer } from '../status.js'

export const BRIDGE_FRESH_MS = 5_000
export const BRIDGE_STALE_MS = 60_000

export type CachePlan = 'use' | 'use-and-refresh' | 'wait'

/** What to do with an answer fetched at `fetchedAt` (null: none) at time `now` (pure). */
export function cachePlan(fetchedAt: number | null, now: number, freshMs: number, staleMs: number): CachePlan {
  if (fetchedAt === null) return 'wait'
  const age = now - fetchedAt
  // A clock stepped backwards makes the age negative: treat the answer as old rather than trust it forever.
  if (age < 0 || age >= staleMs) return 'wait'
  return age < freshMs ? 'use' : 'use-and-refresh'
}

export interface BridgeCacheOptions {
  ask: (config: HostConfig) => Promise<BridgeAnswer>
  freshMs?: number
  staleMs?: number
  now?: () => number
}

/** A drop-in for readHostStatus's `bridge` source; a rejection of `ask` becomes an `error` answer. */
export function bridgeCache(o: BridgeCacheOptions): (config: HostConfig) => Promise<BridgeAnswer> {
  const freshMs = o.freshMs ?? BRIDGE_FRESH_MS
  const staleMs = o.staleMs ?? BRIDGE_STALE_MS
  const now = o.now ?? Date.now
  // Keyed by the bridge URL, so pointing config.json at another bridge is not answered from the old one.
  let entry: { bridge: string; at: number; answer: BridgeAnswer } | null = null
  let inFlight: { bridge: string; promise: Promise<BridgeAnswer> } | null = null

  const refresh = (config: HostConfig): Promise<BridgeAnswer> => {
    if (inFlight?.bridge === config.bridge) return inFlight.promise
    const promise = o.ask(config).catch((err: unknown): BridgeAnswer => {
      const x = toXError(err)
      return { self: null, error: { code: x.code, message: x.message } }
    }).then((answer) => {
      entry = { bridge: config.bridge, at: now(), answer }
      return answer
    })
    const flight = { bridge: config.bridge, promise }
    inFlight = flight
    void promise.finally(() => {
      if (inFlight === flight) inFlight = null
    })
    return promise
  }

  return (config) => {
    const mine = entry?.bridge === config.bridge ? entry : null
    const plan = cachePlan(mine?.at ?? null, now(), freshMs, staleMs)
    if (plan === 'wait' || !mine) return refresh(config)
    if (plan === 'use-and-refresh') void refresh(config)
    return Promise.resolve(mine.answer)
  }
}
