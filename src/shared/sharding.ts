/**
 * Fixed shard boundaries of format v1: shard i covers plaintext bytes
 * [i·shardSize, min((i+1)·shardSize, size)). A 0-byte file has no shards. Pure functions.
 */
import { SHARD_SIZE } from './protocol.js'

export function shardCount(size: number, shardSize = SHARD_SIZE): number {
  return Math.ceil(size / shardSize)
}

export function shardLength(index: number, size: number, shardSize = SHARD_SIZE): number {
  return Math.max(0, Math.min(shardSize, size - index * shardSize))
}

/** Shards covering plaintext [offset, offset+length), as inclusive first and last index. */
export function shardsForRange(offset: number, length: number, size: number, shardSize = SHARD_SIZE): { first: number; last: number } | null {
  const end = Math.min(offset + length, size)
  if (length <= 0 || offset >= end) return null
  return { first: Math.floor(offset / shardSize), last: Math.floor((end - 1) / shardSize) }
}
