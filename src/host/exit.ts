/**
 * `xcore exit`: leave the network gracefully. The bridge marks the host `exiting` and copies
 * every shard it holds to other hosts (replicate orders naming this host as the source, so the
 * host must keep serving meanwhile); once nothing depends on it the bridge says `exited`, and only
 * then may the owner remove the data folder. This polls the bridge until then, or a deadline.
 *
 * A bridge that is briefly away does not end the wait (retryable errors are retried until the
 * deadline); an answer that the exit cannot finish (refused, or the host left `exiting` for
 * another state) ends it with that error.
 */
import { XError, isRetryable, xerr } from '../shared/errors.js'
import type { HostSelf } from '../shared/protocol.js'
import { fetchHostSelf, requestExit } from './bridge/self.js'
import { loadConfig } from './config.js'

export const EXIT_POLL_MS = 1000

export interface ExitOptions {
  dataDir: string
  /** Give up waiting after this long (the exit itself goes on at the bridge). */
  timeoutMs: number
  /** false: start the exit and return at once. */
  wait: boolean
  pollMs?: number
  /** Each answer while waiting (the first is the answer to the exit request). */
  onProgress?: (self: HostSelf) => void
  /** A poll failed in a way that may pass. */
  onRetry?: (err: XError) => void
}

export async function exitHost(o: ExitOptions): Promise<HostSelf> {
  const config = await loadConfig(o.dataDir)
  const deadline = Date.now() + o.timeoutMs
  let self = await requestExit(config)
  o.onProgress?.(self)
  if (!o.wait) return self
  for (;;) {
    if (self.state === 'exited') return self
    if (self.state !== 'exiting') throw xerr('XC_HOST_STATE', `the bridge lists this host as ${self.state}, not exiting: the exit will not finish`)
    if (Date.now() >= deadline) {
      throw xerr('XC_TIMEOUT', `the bridge still lists ${self.shards} shard(s) on this host after ${Math.round(o.timeoutMs / 1000)} s; the exit goes on: keep the host serving and run \`xcore exit\` again to follow it`)
    }
    await new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? EXIT_POLL_MS, Math.max(0, deadline - Date.now()))))
    try {
      self = await fetchHostSelf(config, AbortSignal.timeout(Math.max(1000, Math.min(15_000, deadline - Date.now()))))
      o.onProgress?.(self)
    } catch (err) {
      if (!isRetryable(err)) throw err
      o.onRetry?.(err instanceof XError ? err : xerr('XC_UNAVAILABLE', String(err)))
    }
  }
}
