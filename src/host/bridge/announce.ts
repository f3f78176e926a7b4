/**
 * Staying known to the bridge: announce once (retrying with backoff while the bridge is away),
 * then heartbeat on an interval with capacity, use and traffic. A bridge that has forgotten the
 * host (restart, new database) answers a heartbeat with an auth or not-found error; the host then
 * announces again. Nothing here ever throws into the server: the host keeps serving regardless.
 */
import type { Logger } from 'pino'
import type { AnnounceRequest, AnnounceResponse, HeartbeatRequest } from '../../shared/protocol.js'
import { XError } from '../../shared/errors.js'
import { signedPost, type HostSigner } from './client.js'

export const DEFAULT_HEARTBEAT_MS = 30_000
const MAX_BACKOFF_MS = 30_000

export interface BridgeLinkOptions {
  bridge: string
  signer: HostSigner
  announce: () => AnnounceRequest
  heartbeat: () => HeartbeatRequest
  /** Fixed interval; when absent the bridge's AnnounceResponse.heartbeatMs is used, else 30 s. */
  heartbeatMs?: number
  log: Pick<Logger, 'info' | 'warn' | 'debug'>
}

export interface BridgeLink {
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

export function startBridgeLink(opts: BridgeLinkOptions): BridgeLink {
  const abort = new AbortController()
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (abort.signal.aborted) return resolve()
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        abort.signal.removeEventListener('abort', done)
        resolve()
      }
      abort.signal.addEventListener('abort', done)
    })

  const announceUntilDone = async (): Promise<number> => {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        const res = await signedPost<AnnounceResponse>(opts.bridge, '/v1/hosts/announce', opts.announce(), opts.signer, abort.signal)
        opts.log.info({ hostId: res?.hostId }, 'announced to the bridge')
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
      try {
        await signedPost(opts.bridge, '/v1/hosts/heartbeat', opts.heartbeat(), opts.signer, abort.signal)
      } catch (err) {
        if (abort.signal.aborted) break
        opts.log.warn({ err: String(err) }, 'heartbeat to the bridge failed')
        if (needsReannounce(err)) interval = await announceUntilDone()
      }
    }
  }

  run().catch((err: unknown) => opts.log.warn({ err: String(err) }, 'bridge link stopped'))
  return { stop: () => abort.abort() }
}
