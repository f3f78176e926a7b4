/**
 * What the bridge says about this host, to this host: its state (online … exited), reputation,
 * audit counts, the shards it holds there, and earnings (POST /v1/hosts/self), plus the call that
 * starts a graceful exit (POST /v1/hosts/exit). Both host-signed with body `{}`; both answer a
 * HostSelf, checked here field by field because it is outside input.
 */
import { xerr } from '../../shared/errors.js'
import type { Earnings, HostSelf, HostState } from '../../shared/protocol.js'
import { hostIdOf, privateKeyObject } from '../../shared/tokens.js'
import type { HostConfig } from '../config.js'
import { signedPost, type HostSigner } from './client.js'

const STATES: ReadonlySet<string> = new Set<HostState>(['online', 'offline', 'suspended', 'exiting', 'exited'])

export function signerOf(config: HostConfig): HostSigner {
  return { hostId: hostIdOf(config.publicKey), privateKey: privateKeyObject(config.privateKey) }
}

export async function fetchHostSelf(config: HostConfig, signal?: AbortSignal): Promise<HostSelf> {
  return checkHostSelf(await signedPost<unknown>(config.bridge, '/v1/hosts/self', {}, signerOf(config), signal))
}

/** Ask the bridge to start moving this host's shards elsewhere; answers the state after that. */
export async function requestExit(config: HostConfig, signal?: AbortSignal): Promise<HostSelf> {
  return checkHostSelf(await signedPost<unknown>(config.bridge, '/v1/hosts/exit', {}, signerOf(config), signal))
}

/** XC_FORMAT unless `raw` has the HostSelf shape. */
export function checkHostSelf(raw: unknown): HostSelf {
  const s = raw as Partial<HostSelf> | null
  const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v)
  const e = s?.earnings as Partial<Earnings> | undefined
  const ok =
    typeof s === 'object' && s !== null && typeof s.hostId === 'string' && typeof s.state === 'string' && STATES.has(s.state)
    && num(s.reputation) && num(s.shards) && num(s.storedBytes) && num(s.auditsPassed) && num(s.auditsFailed)
    && typeof e === 'object' && e !== null && typeof e.currency === 'string'
    && num(e.week) && num(e.month) && num(e.year) && num(e.allTime)
  if (!ok) throw xerr('XC_FORMAT', 'the bridge answered /v1/hosts/self in an unexpected shape')
  return s as HostSelf
}
