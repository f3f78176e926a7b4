/**
 * The upload flow: open an upload, place shards (each target gets a put token), replace a target
 * that failed, hand in receipts, commit a version.
 *
 * Invariants:
 * - a receipt counts only if the host the bridge chose for that shard in this upload signed it,
 *   for the size that was placed;
 * - a commit succeeds only if every shard it lists has receipts from `mirrors` distinct hosts in
 *   this upload; the version, its shard list, the mirror rows and the node update are written in
 *   one transaction, and the node moves only if it still points at `baseVersionId`.
 */
import { xerr } from '../../shared/errors.js'
import { MAX_CHALLENGES_PER_SHARD, type CommitRequest, type CommitResponse, type PlaceResponse, type ShardChallenges, type ShardPlacement, type ShardRef } from '../../shared/protocol.js'
import { publicKeyObject, verifyReceipt, type Receipt } from '../../shared/tokens.js'
import type { BridgeContext } from '../context.js'
import type { AuditStore } from '../audit/store.js'
import type { UserStore } from '../auth/store.js'
import type { GcStore } from '../gc/store.js'
import { contactsOf } from '../hosts/health.js'
import { placementCandidates, regionShortfall } from '../placement/candidates.js'
import type { HostRecord, HostStore } from '../hosts/store.js'
import { newId } from '../ids.js'
import { placeShards, type PlacementCandidate, type ShardToPlace } from '../placement/place.js'
import type { ShardStore } from '../shards/store.js'
import type { Transactor } from '../store/index.js'
import { attachVersion } from '../tree/service.js'
import type { TreeStore } from '../tree/store.js'
import type { UploadRecord, UploadStore } from './store.js'

export const UPLOAD_TTL_MS = 24 * 3600_000
/** Placements count as a host's pending load for at most this long (or until its next heartbeat). */
export const PENDING_WINDOW_MS = 60_000

export interface UploadDeps {
  ctx: Pick<BridgeContext, 'now' | 'mirrors' | 'offlineAfterMs' | 'tokens' | 'requireApproval'>
  store: Transactor
    & UploadStore
    & Pick<UserStore, 'userById'>
    & Pick<AuditStore, 'addChallenges' | 'challengeCount'>
    & Pick<GcStore, 'queueDeletion'>
    & Pick<HostStore, 'hostsSeenSince' | 'hostsByIds' | 'addSuccesses'>
    & Pick<ShardStore, 'insertVersion' | 'userHasShard'>
    & Pick<TreeStore, 'getNode' | 'childByName' | 'hasChildren' | 'ancestors' | 'insertNode' | 'updateNode' | 'deleteNode' | 'appendChange'>
}

export function openUpload(d: UploadDeps, userId: string, mirrors: number | undefined): UploadRecord {
  const now = d.ctx.now()
  const regions = d.store.userById(userId)?.regions ?? null
  const u: UploadRecord = { id: newId(), userId, mirrors: mirrors ?? d.ctx.mirrors, createdAt: now, expiresAt: now + UPLOAD_TTL_MS, regions }
  d.store.insertUpload(u)
  return u
}

function liveUpload(d: UploadDeps, userId: string, uploadId: string): UploadRecord {
  const u = d.store.getUpload(userId, uploadId)
  if (!u) throw xerr('XC_NOT_FOUND', 'no such upload')
  if (u.expiresAt <= d.ctx.now()) throw xerr('XC_UPLOAD_EXPIRED')
  return u
}

/** Hosts that may take this upload's shards (placement/candidates.ts), net of recent placements. */
function candidates(d: UploadDeps, upload: UploadRecord): { list: PlacementCandidate[]; byId: Map<string, HostRecord> } {
  const now = d.ctx.now()
  const pending = d.store.pendingBytes(now - PENDING_WINDOW_MS)
  const hosts = d.store.hostsSeenSince(now - d.ctx.offlineAfterMs)
  const list = placementCandidates(hosts, pending, { now, offlineAfterMs: d.ctx.offlineAfterMs, requireApproval: d.ctx.requireApproval, regions: upload.regions })
  return { list, byId: new Map(hosts.map((h) => [h.id, h])) }
}

function place(shards: readonly ShardToPlace[], list: readonly PlacementCandidate[], mirrors: number, upload: UploadRecord) {
  try {
    return placeShards(shards, list, mirrors)
  } catch (err) {
    throw regionShortfall(err, upload.regions)
  }
}

function response(d: UploadDeps, placed: { hash: string; size: number; hostIds: string[] }[], known: Map<string, HostRecord>): PlaceResponse {
  const mentioned = new Set<string>()
  const placements: ShardPlacement[] = placed.map((p) => ({
    hash: p.hash,
    size: p.size,
    targets: p.hostIds.map((hostId) => {
      mentioned.add(hostId)
      return { hostId, token: d.ctx.tokens.put(p.hash, hostId, p.size) }
    }),
  }))
  // Earlier targets of a repeated request may have gone offline since: fetch those too.
  const missing = [...mentioned].filter((id) => !known.has(id))
  const hosts = [...mentioned].flatMap((id) => known.get(id) ?? [])
  return { placements, hosts: contactsOf([...hosts, ...d.store.hostsByIds(missing)]) }
}

/**
 * Place a batch. A hash this upload already placed keeps its targets (with fresh tokens), so a
 * client may repeat a request it lost the answer to.
 */
export function placeBatch(d: UploadDeps, userId: string, uploadId: string, shards: readonly ShardRef[]): PlaceResponse {
  const upload = liveUpload(d, userId, uploadId)
  const unique = new Map<string, number>()
  for (const s of shards) {
    const size = unique.get(s.hash)
    if (size !== undefined && size !== s.size) throw xerr('XC_BAD_REQUEST', `shard ${s.hash} listed with two sizes`)
    unique.set(s.hash, s.size)
  }
  const previous = new Map<string, { size: number; hostIds: string[] }>()
  for (const t of d.store.targetsOf(uploadId, [...unique.keys()])) {
    const p = previous.get(t.hash)
    if (p) p.hostIds.push(t.hostId)
    else previous.set(t.hash, { size: t.size, hostIds: [t.hostId] })
  }
  const toPlace: ShardToPlace[] = []
  for (const [hash, size] of unique) {
    const p = previous.get(hash)
    if (!p) toPlace.push({ hash, size })
    else if (p.size !== size) throw xerr('XC_BAD_REQUEST', `shard ${hash} was placed with size ${p.size}`)
  }
  const { list, byId } = candidates(d, upload)
  const fresh = place(toPlace, list, upload.mirrors, upload)
  d.store.insertTargets(uploadId, fresh.flatMap((p) => p.hostIds.map((hostId) => ({ hash: p.hash, hostId, size: p.size }))), d.ctx.now())
  const placedNow = new Map(fresh.map((p) => [p.hash, p]))
  const placed = [...unique.keys()].map((hash) => placedNow.get(hash) ?? { hash, ...previous.get(hash)! })
  return response(d, placed, byId)
}

/** One new target for a shard of this upload, never a host that failed or already has it. */
export function replaceTarget(d: UploadDeps, userId: string, uploadId: string, hash: string, failedHostIds: readonly string[]): PlaceResponse {
  const upload = liveUpload(d, userId, uploadId)
  const existing = d.store.targetsOf(uploadId, [hash])
  if (existing.length === 0) throw xerr('XC_NOT_FOUND', 'shard not placed in this upload')
  const size = existing[0]!.size
  const exclude = new Set([...failedHostIds, ...existing.map((t) => t.hostId)])
  const { list, byId } = candidates(d, upload)
  const placed = place([{ hash, size, exclude }], list, 1, upload)
  d.store.insertTargets(uploadId, [{ hash, hostId: placed[0]!.hostIds[0]!, size }], d.ctx.now())
  return response(d, placed, byId)
}

export interface ReceiptsResult {
  accepted: number
  rejected: { hash: string; host: string; reason: 'not-placed' | 'size' | 'signature' }[]
}

/**
 * Verify and record receipts; the ones that do not verify are listed, not recorded. Challenges are
 * kept only for shards placed in this upload that a host has signed a receipt for (so the client
 * sent the bytes: nobody can attach challenges to a shard it merely names), and only up to
 * MAX_CHALLENGES_PER_SHARD per shard.
 */
export function acceptReceipts(d: UploadDeps, userId: string, uploadId: string, receipts: readonly Receipt[], challenges: readonly ShardChallenges[] = []): ReceiptsResult {
  liveUpload(d, userId, uploadId)
  if (challenges.length > 0) {
    const placed = new Set(d.store.targetsOf(uploadId, challenges.map((c) => c.hash)).map((t) => t.hash))
    for (const c of challenges) {
      if (!placed.has(c.hash)) throw xerr('XC_BAD_REQUEST', `challenges for shard ${c.hash}, which this upload did not place`)
    }
  }
  const result = recordReceipts(d, uploadId, receipts)
  if (challenges.length > 0) {
    const receipted = d.store.receiptHosts(uploadId, challenges.map((c) => c.hash))
    const now = d.ctx.now()
    for (const c of challenges) {
      if ((receipted.get(c.hash) ?? []).length === 0) continue
      const room = MAX_CHALLENGES_PER_SHARD - d.store.challengeCount(c.hash)
      if (room > 0) d.store.addChallenges(c.hash, c.pairs.slice(0, room), 'client', now)
    }
  }
  return result
}

function recordReceipts(d: UploadDeps, uploadId: string, receipts: readonly Receipt[]): ReceiptsResult {
  const targets = new Map(d.store.targetsOf(uploadId, [...new Set(receipts.map((r) => r.h))]).map((t) => [`${t.hash}/${t.hostId}`, t]))
  const hosts = new Map(d.store.hostsByIds([...new Set(receipts.map((r) => r.host))]).map((h) => [h.id, h]))
  const good: Receipt[] = []
  const rejected: ReceiptsResult['rejected'] = []
  for (const r of receipts) {
    const t = targets.get(`${r.h}/${r.host}`)
    const host = hosts.get(r.host)
    if (!t || !host) rejected.push({ hash: r.h, host: r.host, reason: 'not-placed' })
    else if (t.size !== r.size) rejected.push({ hash: r.h, host: r.host, reason: 'size' })
    else if (!verifyReceipt(publicKeyObject(host.publicKey), r)) rejected.push({ hash: r.h, host: r.host, reason: 'signature' })
    else good.push(r)
  }
  const fresh = d.store.insertReceipts(uploadId, good)
  const perHost = new Map<string, number>()
  for (const r of fresh) perHost.set(r.host, (perHost.get(r.host) ?? 0) + 1)
  for (const [host, n] of perHost) d.store.addSuccesses(host, n)
  return { accepted: good.length, rejected }
}

export function commitVersion(d: UploadDeps, userId: string, uploadId: string, req: CommitRequest): CommitResponse {
  const upload = liveUpload(d, userId, uploadId)
  const hashes = [...new Set(req.shards.map((s) => s.hash))]
  const sizes = new Map(d.store.targetsOf(uploadId, hashes).map((t) => [t.hash, t.size]))
  const receipts = d.store.receiptHosts(uploadId, hashes)
  req.shards.forEach((s, index) => {
    const placedSize = sizes.get(s.hash)
    if (placedSize !== undefined && placedSize !== s.size) {
      throw xerr('XC_BAD_REQUEST', `shard ${index} has size ${s.size} but was placed with ${placedSize}`, { index, hash: s.hash })
    }
    const have = receipts.get(s.hash)?.length ?? 0
    // A shard the user's own versions already reference (a new version that changed other
    // shards) is on its mirrors already; any other shard needs this upload's receipts.
    if (have < upload.mirrors && !(have === 0 && placedSize === undefined && d.store.userHasShard(userId, s.hash))) {
      throw xerr('XC_UPLOAD_INCOMPLETE', `shard ${index} has receipts from ${have} of ${upload.mirrors} hosts`, {
        index, hash: s.hash, receipts: have, needed: upload.mirrors,
      })
    }
  })
  const now = d.ctx.now()
  const versionId = newId()
  return d.store.transaction(() => {
    const node = attachVersion(d.store, userId, req.target, req.baseVersionId, versionId, req.size, now)
    d.store.insertVersion({
      id: versionId, userId, nodeId: node.id, size: req.size, wrappedKey: req.wrappedKey, manifest: req.manifest,
      shardCount: req.shards.length, createdAt: now,
    }, req.shards, receipts, upload.mirrors, upload.regions)
    // Targets that stored a shard but did not become its mirrors (a stand-in that lost the race,
    // a replaced host that finished late) hold bytes nobody will ask for: delete them.
    const placed = d.store.targetsOf(uploadId, hashes)
    for (const t of placed) if (!(receipts.get(t.hash) ?? []).includes(t.hostId)) d.store.queueDeletion(t.hash, t.hostId, now)
    return { node, versionId }
  })
}
