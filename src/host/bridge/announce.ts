/**
 * Staying known to the bridge: announce once (retrying with backoff while the bridge is away),
 * then heartbeat on an interval with capacity, use and traffic. A bridge that has forgotten the
 * host (restart, new database) answers a heartbeat with an auth or not-found error; the host then
 * announces again. When the owner changes a setting the bridge must know (capacity, online hours,
 * limits), `reannounce()` cuts the wait short and announces at once.
 * Every answer carries the host's state as the bridge sees it (online … exited), handed to
 * `onState`. Nothing here ever throws into the server: the host keeps serving regardless.
 */
import type { Logger } from 'pino'
import type { AnnounceRequest, AnnounceResponse, HeartbeatRequest, HeartbeatResponse, HostState } from '../../shared/protocol.js'
import { XError } from '../../shared/errors.js'
import { signedPost, type HostSigner } from './client.js'

export const DEFAULT_HEARTBEAT_MS = 30_000
const MAX_BACKOFF_MS = 30_000
const HOST_STATES: ReadonlySet<string> = new Set<HostState>(['online', 'offline', 'suspended', 'exiting', 'exited'])

export interface BridgeLinkOptions {
  bridge: string
  signer: HostSigner
  announce: () => AnnounceRequest
  heartbeat: () => HeartbeatRequest
  /** Fixed interval; when absent the bridge's AnnounceResponse.heartbeatMs is used, else 30 s. */
  heartbeatMs?: number
  /** Runs before each heartbeat (re-reading config.json); its failures are logged, not fatal. */
  refresh?: () => Promise<void>
  /** The state the bridge reported in an announce or heartbeat answer. */
  onState?: (state: HostState) => void
  log: Pick<Logger, 'info' | 'warn' | 'debug'>
}

export interface BridgeLink {
  /** Announce again as soon as possible (settings changed). */
  reannounce(): void
  stop(): void
}

/** Exponential backoff with jitter: 1 s, 2 s, 4 s … capped at 30 s. */
export function backoffMs(attempt: number, random = Math.random()): number {
  const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attempt, 10))
  return Math.round(base * (0.75 + random * 0.5))
}

/** Errors after which announcing again may help: the bridge no longer knows this host. */
export function needsReannounce(err: unknown): boolean {
  return err instanceof XError && ['XC_HOST_SIGNATURE', 'XC_NOT_FOUND', 'XC_UNAUTHENTICATED', 'XC_FORBIDDEN'].includes(err.code)
}

/** The state field of a bridge answer, if it is one we know (an older bridge sends none). */
export function stateOf(res: unknown): HostState | null {
  const s = (res as { state?: unknown } | null)?.state
  return typeof s === 'string' && HOST_STATES.has(s) ? (s as HostState) : null
}

export function startBridgeLink(opts: BridgeLinkOptions): BridgeLink {
  const abort = new AbortController()
  let wake: (() => void) | null = null
  let announceWanted = false

  /** Sleep until `ms` passed, the link stops, or reannounce() is called. */
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (abort.signal.aborted || announceWanted) return resolve()
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        abort.signal.removeEventListener('abort', done)
        wake = null
        resolve()
      }
      wake = done
      abort.signal.addEventListener('abort', done)
    })

  const report = (res: unknown): void => {
    const state = stateOf(res)
    if (state) opts.onState?.(state)
  }

  const announceUntilDone = async (): Promise<number> => {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      announceWanted = false
      try {
        const res = await signedPost<AnnounceResponse>(opts.bridge, '/v1/hosts/announce', opts.announce(), opts.signer, abort.signal)
        opts.log.info({ hostId: res?.hostId, state: res?.state }, 'announced to the bridge')
        report(res)
        const hinted = Number(res?.heartbeatMs)
        return opts.heartbeatMs ?? (Number.isFinite(hinted) && hinted >= 1000 ? hinted : DEFAULT_HEARTBEAT_MS)
      } catch (err) {
        if (abort.signal.aborted) break
        const wait = backoffMs(attempt)
        opts.log.warn({ err: String(err), retryInMs: wait }, 'announce to the bridge failed')
        await sleep(wait)
      }
    }
    return 0
  }

  const run = async (): Promise<void> => {
    let interval = await announceUntilDone()
    while (!abort.signal.aborted) {
      await sleep(interval)
      if (abort.signal.aborted) break
      if (opts.refresh) await opts.refresh().catch((err: unknown) => opts.log.warn({ err: String(err) }, 're-reading the settings failed'))
      // A settings change found by refresh() (or signalled while sleeping) is announced instead.
      if (announceWanted) {
        interval = await announceUntilDone()
        continue
      }
      try {
        report(await signedPost<HeartbeatResponse>(opts.bridge, '/v1/hosts/heartbeat', opts.heartbeat(), opts.signer, abort.signal))
      } catch (err) {
        if (abort.signal.aborted) break
        opts.log.warn({ err: String(err) }, 'heartbeat to the bridge failed')
        if (needsReannounce(err)) interval = await announceUntilDone()
      }
    }
  }

  run().catch((err: unknown) => opts.log.warn({ err: String(err) }, 'bridge link stopped'))
  return {
    reannounce: () => {
      announceWanted = true
      wake?.()
    },
    stop: () => abort.abort(),
  }
}
