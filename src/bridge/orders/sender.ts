/**
 * Sending orders to hosts: sign (shared/orders.ts), POST to the host's /orders over HTTPS pinned to
 * the certificate it registered, parse the answer. Callers check what the answer claims.
 */
import { randomBytes, type KeyObject } from 'node:crypto'
import { pinnedJson } from '../../shared/http/pinned.js'
import { signOrder, type AuditAnswer, type DeleteAnswer, type OrderBody, type ReplicateAnswer } from '../../shared/orders.js'
import { privateKeyObject } from '../../shared/tokens.js'
import { contactOf } from '../hosts/health.js'
import type { HostRecord } from '../hosts/store.js'

export const ORDER_TIMEOUT_MS = 30_000

export class OrderSender {
  private readonly key: KeyObject

  constructor(privateKey: string, private readonly now: () => number) {
    this.key = privateKeyObject(privateKey)
  }

  /** The signed wire form (exposed for tests of replay and forgery). */
  sign(host: string, body: OrderBody): string {
    return signOrder(this.key, host, body, this.now(), randomBytes(12).toString('base64url'))
  }

  send(host: HostRecord, body: Extract<OrderBody, { kind: 'audit' }>, timeoutMs?: number): Promise<AuditAnswer>
  send(host: HostRecord, body: Extract<OrderBody, { kind: 'replicate' }>, timeoutMs?: number): Promise<ReplicateAnswer>
  send(host: HostRecord, body: Extract<OrderBody, { kind: 'delete' }>, timeoutMs?: number): Promise<DeleteAnswer>
  send(host: HostRecord, body: OrderBody, timeoutMs = ORDER_TIMEOUT_MS): Promise<unknown> {
    return pinnedJson(contactOf(host), '/orders', { order: this.sign(host.id, body) }, timeoutMs)
  }
}

export function freshSalt(): string {
  return randomBytes(16).toString('base64url')
}

/** Digests a host answered: exactly one 64-hex string per salt asked, else none are usable. */
export function digestsFor(salts: readonly string[], digests: unknown): Array<{ salt: string; digest: string }> {
  if (!Array.isArray(digests) || digests.length !== salts.length || !digests.every((x) => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x))) return []
  return salts.map((salt, i) => ({ salt, digest: digests[i] as string }))
}
