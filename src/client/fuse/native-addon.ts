/**
 * The addon built from fuse-native with X Cloud's native additions (native-deps/attr-cache.c):
 * the mount's attribute cache, native writes and reads, and the shard crypto the download worker
 * uses.
 * Null when it cannot be loaded; each function is absent when the addon is fuse-native's prebuilt
 * one (no compiler at install).
 */
import { createRequire } from 'node:module'
import path from 'node:path'

export interface Binding {
  xc_attr_cache_bump?: () => void
  xc_attr_cache_put?: (mount: Buffer, path: string, stat: Uint32Array) => void
  xc_attr_cache_enable?: (on: number) => void
  xc_attr_cache_stats?: () => [number, number, number]
  xc_malloc_large_mapped?: () => number
  xc_fast_write_open?: (mount: Buffer, fh: number, fd: number, maxSize: number) => number
  xc_fast_write_take?: (mount: Buffer, fh: number) => [number, number, number] | null
  xc_fast_write_close?: (mount: Buffer, fh: number) => void
  xc_fast_write_stats?: () => [number, number]
  xc_hash_ctr?: (key: Uint8Array, iv: Uint8Array, src: Uint8Array, dst: Uint8Array, digest: Uint8Array) => void
  xc_seal?: (key: Uint8Array, iv: Uint8Array, src: Uint8Array, dst: Uint8Array, salts: Uint8Array, digests: Uint8Array) => void
  xc_seal_many?: (keys: Uint8Array, ivs: Uint8Array, srcs: Uint8Array[], dsts: Uint8Array[], salts: Uint8Array, per: number, digests: Uint8Array) => void
  xc_seal_lanes?: () => number
  xc_fast_read_handle?: (mount: Buffer, fh: number, content: number, size: number, shardSize: number, idx: number) => number
  xc_fast_read_forget?: (mount: Buffer, fh: number) => void
  xc_fast_read_shard?: (content: number, idx: number, data: Buffer) => number
  xc_fast_read_drop?: (content: number, idx: number) => void
  xc_fast_read_stats?: () => number
}

let loaded: Binding | null | undefined

/** The addon, loaded once per thread (its users ask for it at start-up and in the crypto worker). */
export function binding(): Binding | null {
  if (loaded !== undefined) return loaded
  try {
    const require = createRequire(import.meta.url)
    const dir = path.dirname(require.resolve('fuse-native/package.json'))
    // The same addon fuse-native loaded: node-gyp-build as fuse-native resolves it picks the same
    // file, and require hands back the module already loaded.
    const fromFuse = createRequire(path.join(dir, 'index.js'))
    loaded = (fromFuse('node-gyp-build') as (d: string) => Binding)(dir)
  } catch {
    loaded = null
  }
  return loaded
}
