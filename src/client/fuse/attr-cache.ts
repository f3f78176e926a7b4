/**
 * The mount's native attribute cache (native-deps/attr-cache.c, built into fuse-native): libfuse's
 * threads answer a getattr that JavaScript already answered (directly, or in a readdir listing)
 * without a round trip into the event loop. JavaScript stays the truth: `bump()` must run in the
 * same synchronous step as any change a getattr could see, and it makes everything cached so far
 * unusable. Absent when the addon in use is fuse-native's prebuilt one (no compiler at install):
 * then every getattr goes to JavaScript as before.
 */
import type { Attr } from '../vfs/vfs.js'
import { binding } from './native-addon.js'

export interface AttrCache {
  /** Everything cached so far is stale. */
  bump(): void
  /**
   * `path` has these attributes now (call in the same synchronous step that computed them):
   * the getattr libfuse sends after a change is then answered without a round trip. `mount` is
   * the mounted Fuse instance's thread buffer (the entries' owner).
   */
  put(mount: Buffer, path: string, attr: Attr): void
  /** Turn the cache on or off for this process (either way nothing cached so far is used). */
  enable(on: boolean): void
  stats(): { hits: number; misses: number; entries: number }
}

function load(): AttrCache | null {
  try {
    const b = binding()
    if (!b?.xc_attr_cache_bump || !b.xc_attr_cache_put || !b.xc_attr_cache_enable || !b.xc_attr_cache_stats) return null
    const bump = b.xc_attr_cache_bump
    const put = b.xc_attr_cache_put
    const enable = b.xc_attr_cache_enable
    const stats = b.xc_attr_cache_stats
    return {
      bump: () => bump(),
      put: (mount, p, a) => put(mount, p, statArray(a)),
      enable: (on) => enable(on ? 1 : 0),
      stats: () => {
        const [hits, misses, entries] = stats()
        return { hits, misses, entries }
      },
    }
  } catch {
    return null
  }
}

/** fuse-native's stat layout: 18 uint32s, 64-bit values as (low, high), times in ms. */
function statArray(a: Attr): Uint32Array {
  const ints = new Uint32Array(18)
  const wide = (i: number, v: number): void => {
    ints[i] = v % 4294967296
    ints[i + 1] = Math.floor(v / 4294967296)
  }
  ints[0] = a.mode
  ints[1] = a.uid
  ints[2] = a.gid
  wide(3, a.size)
  ints[6] = a.nlink
  ints[7] = a.ino
  ints[9] = a.blksize
  wide(10, a.blocks)
  wide(12, a.atime.getTime())
  wide(14, a.mtime.getTime())
  wide(16, a.ctime.getTime())
  return ints
}

export const attrCache: AttrCache | null = load()

/**
 * Have the C allocator map buffers of 1 MiB and more (shard buffers) on their own and unmap them when freed
 * (native-deps/attr-cache.c), so freed shard buffers do not stay resident. False when the addon
 * is the prebuilt one or the C library is not glibc.
 */
export function mapLargeAllocations(): boolean {
  return binding()?.xc_malloc_large_mapped?.() === 1
}

/**
 * Writes answered on libfuse's threads straight into staging files (native-deps/attr-cache.c),
 * for handles the VFS hands over; `mount` is the mounted Fuse instance's thread buffer. Null when
 * the addon in use does not have them.
 */
export interface NativeFastWrites {
  open(mount: Buffer, fh: number, fd: number, maxSize: number): boolean
  take(mount: Buffer, fh: number): { lo: number; hi: number; at: number } | null
  close(mount: Buffer, fh: number): void
  /** Wall-clock time of the last write answered natively (0: none yet). */
  lastWriteAt(): number
  /** Writes answered natively since the process started. */
  count(): number
}

/**
 * Reads answered on libfuse's threads straight from shards in the daemon's memory
 * (native-deps/attr-cache.c): the shard cache announces each shard's plaintext while it holds it,
 * and the VFS hands over each handle whose file is exactly a committed version, for the shard its
 * reader is in. Null when the addon in use does not have them.
 */
export interface NativeFastReads {
  handle(mount: Buffer, fh: number, content: number, size: number, shardSize: number, idx: number): boolean
  forget(mount: Buffer, fh: number): void
  shard(content: number, idx: number, data: Buffer): boolean
  drop(content: number, idx: number): void
  /** Reads answered natively since the process started. */
  count(): number
}

export const fastReads: NativeFastReads | null = (() => {
  const b = binding()
  if (!b?.xc_fast_read_handle || !b.xc_fast_read_forget || !b.xc_fast_read_shard || !b.xc_fast_read_drop || !b.xc_fast_read_stats) return null
  const { xc_fast_read_handle: handle, xc_fast_read_forget: forget, xc_fast_read_shard: shard, xc_fast_read_drop: drop, xc_fast_read_stats: stats } = b
  return {
    handle: (mount, fh, content, size, shardSize, idx) => handle(mount, fh, content, size, shardSize, idx) === 1,
    forget: (mount, fh) => forget(mount, fh),
    shard: (content, idx, data) => shard(content, idx, data) === 1,
    drop: (content, idx) => drop(content, idx),
    count: () => stats(),
  }
})()

export const fastWrites: NativeFastWrites | null = (() => {
  const b = binding()
  if (!b?.xc_fast_write_open || !b.xc_fast_write_take || !b.xc_fast_write_close || !b.xc_fast_write_stats) return null
  const { xc_fast_write_open: open, xc_fast_write_take: take, xc_fast_write_close: close, xc_fast_write_stats: stats } = b
  return {
    open: (mount, fh, fd, maxSize) => open(mount, fh, fd, maxSize) === 1,
    take: (mount, fh) => {
      const r = take(mount, fh)
      return r ? { lo: r[0], hi: r[1], at: r[2] } : null
    },
    close: (mount, fh) => close(mount, fh),
    lastWriteAt: () => stats()[0],
    count: () => stats()[1],
  }
})()
