/**
 * The audit chore: each round, every host that counts and is reachable is asked to prove it holds
 * a few random shards the bridge recorded on it. An audit spends one challenge the host did not
 * compute (salt, SHA-256(salt ‖ shard)); the host answers the digest, plus digests for fresh
 * top-up salts that become challenges for the shard's other mirrors, so challenges never run out.
 *
 * Outcomes, and what counts as evidence:
 * - right digest: pass;
 * - "I do not have it" (null): fail (the host's own word), and the mirror is dropped, so repair
 *   puts the shard elsewhere;
 * - a wrong digest is cross-checked on another mirror with the same challenge. Only when that
 *   one answers the expected digest is the audited host at fault (fail, mirror dropped). When it
 *   answers the same "wrong" digest the challenge itself was bad (a lying uploader or host): it
 *   is discarded and nobody is blamed but a host that computed it. With no witness reachable the
 *   audit is inconclusive: one unconfirmed digest never costs a copy, since the challenge may be
 *   a lying client's;
 * - a timeout, a refused order or any other error (a restart, a network blip, clock skew) is
 *   inconclusive but counts as one failure in the reputation, like a client's report;
 *   a host that keeps not answering sinks in placement without being suspended on weak evidence.
 * Outside its online hours (by the bridge's record) a host is not audited. A shard with no
 * challenge left for a host is seeded: another mirror answers fresh salts, and those become its
 * challenges from the next round (checked against each other like any challenge).
 */
import type { Logger } from 'pino'
import { toXError } from '../../shared/errors.js'
import type { AuditAnswer } from '../../shared/orders.js'
import type { BridgeContext } from '../context.js'
import { dropMirror } from '../earnings/service.js'
import type { LedgerStore } from '../earnings/store.js'
import type { GcStore } from '../gc/store.js'
import { isAvailable, isCounted } from '../hosts/health.js'
import type { HostRecord, HostStore } from '../hosts/store.js'
import type { OrderSender } from '../orders/sender.js'
import type { RepairStore } from '../repair/store.js'
import type { ShardStore } from '../shards/store.js'
import { digestsFor, freshSalt } from '../orders/sender.js'
import type { AuditResult, AuditStore } from './store.js'

/** Top up a shard's challenges when fewer than this are left. */
export const TOP_UP_BELOW = 4
export const TOP_UP_SALTS = 2

export interface AuditDeps {
  ctx: Pick<BridgeContext, 'now' | 'offlineAfterMs' | 'prices'>
  store: AuditStore & Pick<HostStore, 'allHosts' | 'getHost' | 'hostsByIds' | 'recordFailure'> & Pick<ShardStore, 'mirrorsOf'>
    & Pick<RepairStore, 'removeMirror'> & Pick<GcStore, 'queueDeletion'> & LedgerStore
  orders: Pick<OrderSender, 'send'>
  log: Pick<Logger, 'info' | 'warn'>
  /** Shards audited per host per round. */
  perHost: number
}

export interface AuditRound {
  passed: number
  failed: number
  inconclusive: number
  skipped: number
}

export async function auditRound(d: AuditDeps): Promise<AuditRound> {
  const now = d.ctx.now()
  const round: AuditRound = { passed: 0, failed: 0, inconclusive: 0, skipped: 0 }
  const hosts = d.store.allHosts().filter((h) => isCounted(h, now, d.ctx.offlineAfterMs) && isAvailable(h, now, d.ctx.offlineAfterMs))
  await Promise.all(hosts.map(async (h) => {
    for (const s of d.store.auditSample(h.id, d.perHost)) {
      const r = await auditOne(d, h, s.hash)
      round[r === 'pass' ? 'passed' : r === 'fail' ? 'failed' : r]++
    }
  }))
  return round
}

async function ask(d: AuditDeps, h: HostRecord, hash: string, salt: string, topUp: string[]): Promise<AuditAnswer> {
  const a = await d.orders.send(h, { kind: 'audit', hash, salt, topUp })
  const digest = a?.digest
  if (digest !== null && !(typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest))) return { digest: 'malformed', topUp: [] }
  return a
}

/** Another reachable mirror answers fresh salts; its digests become challenges for the others. */
async function seed(d: AuditDeps, h: HostRecord, hash: string): Promise<void> {
  const now = d.ctx.now()
  const others = d.store.hostsByIds((d.store.mirrorsOf([hash]).get(hash) ?? []).filter((id) => id !== h.id))
    .filter((o) => isAvailable(o, now, d.ctx.offlineAfterMs))
  const source = others[0]
  if (!source) return
  const salts = Array.from({ length: TOP_UP_SALTS }, freshSalt)
  try {
    const a = await ask(d, source, hash, freshSalt(), salts)
    const pairs = digestsFor(salts, a.topUp)
    if (pairs.length > 0) d.store.addChallenges(hash, pairs, source.id, d.ctx.now())
  } catch {
    // Another round will try again.
  }
}

export async function auditOne(d: AuditDeps, h: HostRecord, hash: string): Promise<AuditResult | 'skipped'> {
  const ch = d.store.pickChallenge(hash, h.id)
  if (!ch) {
    await seed(d, h, hash)
    return 'skipped'
  }
  const topUp = d.store.challengeCount(hash) < TOP_UP_BELOW ? Array.from({ length: TOP_UP_SALTS }, freshSalt) : []
  d.store.spendChallenge(ch.id)
  const fail = (host: HostRecord, reason: string, dropIt: boolean): AuditResult => {
    const now = d.ctx.now()
    d.store.recordAudit(host.id, hash, 'fail', reason, now)
    if (dropIt) dropMirror({ ctx: d.ctx, store: d.store }, hash, host.id, now)
    d.log.warn({ host: host.id, hash, reason }, 'audit failed')
    return 'fail'
  }
  let answer: AuditAnswer
  try {
    answer = await ask(d, h, hash, ch.salt, topUp)
  } catch (err) {
    const x = toXError(err)
    const now = d.ctx.now()
    d.store.recordAudit(h.id, hash, 'inconclusive', x.code, now)
    d.store.recordFailure({ hostId: h.id, hash, reason: x.code === 'XC_TIMEOUT' ? 'timeout' : 'error', reporterId: 'bridge', at: now }, 0)
    return 'inconclusive'
  }
  if (answer.digest === ch.digest) {
    d.store.recordAudit(h.id, hash, 'pass', null, d.ctx.now())
    const pairs = digestsFor(topUp, answer.topUp)
    if (pairs.length > 0) d.store.addChallenges(hash, pairs, h.id, d.ctx.now())
    return 'pass'
  }
  if (answer.digest === null) return fail(h, 'missing', true)

  // A wrong digest: is it the host, or the challenge?
  const now = d.ctx.now()
  const others = d.store.hostsByIds((d.store.mirrorsOf([hash]).get(hash) ?? []).filter((id) => id !== h.id && id !== ch.source))
    .filter((o) => isAvailable(o, now, d.ctx.offlineAfterMs))
  const inconclusive = (reason: string): 'inconclusive' => {
    d.store.recordAudit(h.id, hash, 'inconclusive', reason, d.ctx.now())
    return 'inconclusive'
  }
  const witness = others[0]
  if (!witness) return inconclusive('no-witness')
  let second: AuditAnswer
  try {
    second = await ask(d, witness, hash, ch.salt, [])
  } catch {
    return inconclusive('witness-unreachable')
  }
  if (second.digest === ch.digest) {
    d.store.recordAudit(witness.id, hash, 'pass', 'witness', d.ctx.now())
    return fail(h, 'wrong-digest', true)
  }
  d.store.recordAudit(h.id, hash, 'inconclusive', second.digest === answer.digest ? 'bad-challenge' : 'disagreement', d.ctx.now())
  if (second.digest === answer.digest && ch.source !== 'client') {
    const source = d.store.getHost(ch.source)
    if (source) fail(source, 'bad-challenge', false)
  }
  return 'inconclusive'
}
