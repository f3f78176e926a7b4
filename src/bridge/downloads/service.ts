/**
 * Reading a file: its current version (wrapped key, manifest, shard count), then get tokens for
 * ranges of its shards. Every mirror of a shard is listed, online hosts first and then by
 * reputation, so a client tries the likeliest host first and still has every fallback.
 */
import { xerr } from '../../shared/errors.js'
import type { ContentInfo, ShardMirrors, TokensResponse } from '../../shared/protocol.js'
import type { BridgeContext } from '../context.js'
import { contactsOf, isAvailable, reputationOf } from '../hosts/health.js'
import type { HostRecord, HostStore } from '../hosts/store.js'
import type { ShardStore } from '../shards/store.js'
import type { TreeStore } from '../tree/store.js'

export interface DownloadDeps {
  ctx: Pick<BridgeContext, 'now' | 'offlineAfterMs' | 'tokens'>
  store: Pick<TreeStore, 'getNode'> & Pick<ShardStore, 'getVersion' | 'versionShards' | 'mirrorsOf'> & Pick<HostStore, 'hostsByIds' | 'addEgressCredit'>
}

export function contentOf(d: DownloadDeps, userId: string, nodeId: string): ContentInfo {
  const node = d.store.getNode(userId, nodeId)
  if (!node) throw xerr('XC_NOT_FOUND', 'no such node')
  if (node.kind === 'dir') throw xerr('XC_IS_DIR')
  const v = node.versionId === null ? undefined : d.store.getVersion(userId, node.versionId)
  if (!v) throw xerr('XC_NOT_FOUND', 'the file has no content yet')
  return { nodeId, versionId: v.id, size: v.size, wrappedKey: v.wrappedKey, manifest: v.manifest, shardCount: v.shardCount }
}

/** Best first: available (heartbeating, in its hours) before not, then higher reputation, then host id. */
export function rankMirrors(hosts: readonly HostRecord[], now: number, offlineAfterMs: number): HostRecord[] {
  const key = (h: HostRecord) => ({ on: isAvailable(h, now, offlineAfterMs) ? 1 : 0, rep: reputationOf(h) })
  return [...hosts].sort((a, b) => {
    const ka = key(a)
    const kb = key(b)
    return kb.on - ka.on || kb.rep - ka.rep || (a.id < b.id ? -1 : 1)
  })
}

export function tokensFor(d: DownloadDeps, userId: string, versionId: string, from: number, count: number): TokensResponse {
  const v = d.store.getVersion(userId, versionId)
  if (!v) throw xerr('XC_NOT_FOUND', 'no such version')
  const shards = d.store.versionShards(versionId, from, count)
  const mirrors = d.store.mirrorsOf([...new Set(shards.map((s) => s.hash))])
  const ids = new Set<string>()
  for (const list of mirrors.values()) for (const h of list) ids.add(h)
  const hosts = new Map(d.store.hostsByIds([...ids]).map((h) => [h.id, h]))
  const now = d.ctx.now()
  const credit = new Map<string, number>()
  const out: ShardMirrors[] = shards.map((s) => {
    const ranked = rankMirrors((mirrors.get(s.hash) ?? []).map((id) => hosts.get(id)).filter((h): h is HostRecord => !!h), now, d.ctx.offlineAfterMs)
    for (const h of ranked) credit.set(h.id, (credit.get(h.id) ?? 0) + s.size)
    return { index: s.index, hash: s.hash, size: s.size, mirrors: ranked.map((h) => ({ hostId: h.id, token: d.ctx.tokens.get(s.hash, h.id) })) }
  })
  // Each host may be paid for serving at most the bytes it was given tokens for.
  d.store.addEgressCredit(credit)
  return { shards: out, hosts: contactsOf(hosts.values()) }
}
