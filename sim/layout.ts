/**
 * The network at time 0: every shard uploaded once, its mirrors chosen by the bridge's real
 * `placeShards`. Also the id conventions the simulation uses with the bridge's code: hosts are
 * `h<index>`, shard hashes the index in hex (so the repair queue's hash tie-break is index order).
 */
import { placeShards, type PlacementCandidate, type ShardToPlace } from '../src/bridge/placement/place.js'
import { stream } from './random.js'
import type { HostPlan } from './trace.js'

export const hostId = (h: number): string => `h${h}`
export const hostIndex = (id: string): number => Number(id.slice(1))
export const shardHash = (s: number): string => s.toString(16).padStart(8, '0')
export const shardIndex = (hash: string): number => parseInt(hash, 16)

/** Shards per upload batch when filling the network at time 0 (one 128 MiB file). */
const UPLOAD_BATCH = 64

/**
 * Where each shard's mirrors go at time 0: uploads of UPLOAD_BATCH shards each, placed by
 * `placeShards` over the whole initial population. Depends on (seed, population, shards,
 * mirrors) only, so every scenario starts from the same layout.
 */
export function initialLayout(seed: number, hosts: readonly HostPlan[], shards: number, shardSize: number, mirrors: number): Int32Array {
  const random = stream(seed, 'layout', mirrors)
  const cands: PlacementCandidate[] = hosts.map((h, i) => ({ id: hostId(i), free: h.capacity - h.fill, load: 0, reputation: 1 }))
  const layout = new Int32Array(shards * mirrors)
  for (let first = 0; first < shards; first += UPLOAD_BATCH) {
    const batch: ShardToPlace[] = []
    for (let s = first; s < Math.min(shards, first + UPLOAD_BATCH); s++) batch.push({ hash: shardHash(s), size: shardSize })
    for (const p of placeShards(batch, cands, mirrors, random)) {
      const s = shardIndex(p.hash)
      p.hostIds.forEach((id, k) => {
        const h = hostIndex(id)
        layout[s * mirrors + k] = h
        cands[h]!.free -= shardSize
      })
    }
  }
  return layout
}
