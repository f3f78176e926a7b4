/**
 * The mount's native attribute cache (native-deps/attr-cache.c, built into fuse-native): libfuse's
 * threads answer a getattr that JavaScript already answered (directly, or in a readdir listing)
 * without a round trip into the event loop. JavaScript stays the truth: `bump()` must run in the
 * same synchronous step as any change a getattr could see, and it makes everything cached so far
 * unusable. Absent when the addon in use is fuse-native's prebuilt one (no compiler at install):
 * then every getattr goes to JavaScript as before.
 */
import { createRequire } from 'node:module'
import path from 'node:path'

export interface AttrCache {
  /** Everything cached so far is stale. */
  bump(): void
  /** Turn the cache on or off for this process (either way nothing cached so far is used). */
  enable(on: boolean): void
  stats(): { hits: number; misses: number; entries: number }
}

interface Binding {
  xc_attr_cache_bump?: () => void
  xc_attr_cache_enable?: (on: number) => void
  xc_attr_cache_stats?: () => [number, number, number]
}

function load(): AttrCache | null {
  try {
    const require = createRequire(import.meta.url)
    const dir = path.dirname(require.resolve('fuse-native/package.json'))
    // The same addon fuse-native loaded: node-gyp-build as fuse-native resolves it picks the same
    // file, and require hands back the module already loaded.
    const fromFuse = createRequire(path.join(dir, 'index.js'))
    const b = (fromFuse('node-gyp-build') as (d: string) => Binding)(dir)
    if (!b.xc_attr_cache_bump || !b.xc_attr_cache_enable || !b.xc_attr_cache_stats) return null
    const bump = b.xc_attr_cache_bump
    const enable = b.xc_attr_cache_enable
    const stats = b.xc_attr_cache_stats
    return {
      bump: () => bump(),
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

export const attrCache: AttrCache | null = load()
