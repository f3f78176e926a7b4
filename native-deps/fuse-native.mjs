#!/usr/bin/env node
// Rebuild fuse-native 2.2.6 from its own source with these changes:
// 1. A fix: its utimens glue hands JavaScript the access time twice (argv 5..6 get l->atime
//    instead of l->mtime), so every utimes/utimensat on the mount would set a file's modification
//    time to its access time (rsync -a, tar, cp -p all lose their times).
// 2. native-deps/attr-cache.c, copied next to fuse-native.c and included there: an attribute
//    cache on libfuse's threads (getattr/fgetattr requests JavaScript already answered, directly,
//    through a readdir listing or by handing over a path's attributes right after changing it,
//    are answered without a round trip into the event loop); chown answered natively (the drive
//    keeps no owners); a libfuse thread polls briefly for JavaScript's answer before it sleeps;
//    writes through handles the VFS hands over go straight into their staging files; and reads
//    through handles it hands over are copied straight from shards in its memory.
// The addon is built with node-gyp into build/Release, which node-gyp-build loads before the
// bundled prebuilds; the headers and libfuse come from the fuse-shared-library packages it
// already depends on. Runs at `npm ci`/`npm install` (postinstall) and from
// scripts/ensure-ready.mjs; does nothing when this build is in place (a stamp holds a hash of the
// changes). If it cannot build (no compiler), the prebuilt addon stays and this says so.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const dir = path.join(root, 'node_modules', 'fuse-native')
const src = path.join(dir, 'fuse-native.c')
const cacheSrc = path.join(here, 'attr-cache.c')
const marker = path.join(dir, 'build', 'Release', '.xcloud-build')

/** Each change: text that must be in fuse-native.c, and what it becomes. */
const CHANGES = [
  ['FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)', 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)'],
  ['\n// Methods\n', '\n#include "xcloud-attr-cache.c"\n\n// Methods\n'],
  ['  uv_sem_wait(&(l->sem));\\\n  return l->res;', '  xc_wait(&(l->sem));\\\n  return l->res;'],
  ['  ft->env = env;\n', '  ft->env = env;\n  atomic_fetch_add(&xc_gen, 1); // a new mount starts with nothing cached\n  xc_fw_forget_owner(ft); // and with no handle writing natively\n  xc_fr_forget_owner(ft); // or reading natively\n'],
  ['ops.getattr = fuse_native_getattr;', 'ops.getattr = xc_getattr;'],
  ['ops.readdir = fuse_native_readdir;', 'ops.readdir = xc_readdir;'],
  ['ops.fgetattr = fuse_native_fgetattr;', 'ops.fgetattr = xc_fgetattr;'],
  ['ops.chown = fuse_native_chown;', 'ops.chown = xc_chown;'],
  ['ops.write = fuse_native_write;', 'ops.write = xc_write;'],
  ['ops.read = fuse_native_read;', 'ops.read = xc_read;'],
  ['  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n', '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n  NAPI_EXPORT_FUNCTION(xc_attr_cache_bump)\n  NAPI_EXPORT_FUNCTION(xc_attr_cache_put)\n  NAPI_EXPORT_FUNCTION(xc_attr_cache_enable)\n  NAPI_EXPORT_FUNCTION(xc_attr_cache_stats)\n  NAPI_EXPORT_FUNCTION(xc_malloc_large_mapped)\n  NAPI_EXPORT_FUNCTION(xc_fast_write_open)\n  NAPI_EXPORT_FUNCTION(xc_fast_write_take)\n  NAPI_EXPORT_FUNCTION(xc_fast_write_close)\n  NAPI_EXPORT_FUNCTION(xc_fast_write_stats)\n  NAPI_EXPORT_FUNCTION(xc_hash_ctr)\n  NAPI_EXPORT_FUNCTION(xc_seal)\n  NAPI_EXPORT_FUNCTION(xc_seal_many)\n  NAPI_EXPORT_FUNCTION(xc_seal_lanes)\n  NAPI_EXPORT_FUNCTION(xc_fast_read_handle)\n  NAPI_EXPORT_FUNCTION(xc_fast_read_forget)\n  NAPI_EXPORT_FUNCTION(xc_fast_read_shard)\n  NAPI_EXPORT_FUNCTION(xc_fast_read_drop)\n  NAPI_EXPORT_FUNCTION(xc_fast_read_stats)\n'],
]

if (!existsSync(src)) process.exit(0) // not installed (yet)
const version = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version
if (version !== '2.2.6') {
  console.error(`[xcloud] fuse-native ${version}: the changes are for 2.2.6; check whether they still apply`)
  process.exit(0)
}
const stamp = createHash('sha256').update(JSON.stringify(CHANGES)).update(readFileSync(cacheSrc)).digest('hex')
const built = path.join(dir, 'build', 'Release', 'fuse.node')
if (existsSync(built) && existsSync(marker) && readFileSync(marker, 'utf8').includes(stamp)) process.exit(0)

// The changes always apply to fuse-native.c as published (kept aside the first time), so a
// later version of them never lands on top of an earlier one.
const pristine = `${src}.orig`
if (!existsSync(pristine)) copyFileSync(src, pristine)
let code = readFileSync(pristine, 'utf8')
for (const [from, to] of CHANGES) {
  if (code.includes(to)) continue // fuse-native.c with the utimens fix of an earlier version of this script
  if (!code.includes(from)) {
    console.error(`[xcloud] fuse-native.c does not contain ${JSON.stringify(from)}; the prebuilt addon stays`)
    process.exit(0)
  }
  code = code.replace(from, to)
}
writeFileSync(src, code)
copyFileSync(cacheSrc, path.join(dir, 'xcloud-attr-cache.c'))

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp
  const candidates = [
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]
  return candidates.find((c) => existsSync(c))
}

const gyp = nodeGyp()
// Use the headers of the node that runs this when they are installed (no download needed).
const prefix = path.resolve(path.dirname(process.execPath), '..')
const args = existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : []
try {
  if (!gyp) throw new Error('node-gyp not found')
  console.error('[xcloud] building fuse-native with the utimens fix and the attribute cache…')
  try {
    execFileSync(process.execPath, [gyp, 'rebuild', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    process.stderr.write(String(err.stderr ?? '').split('\n').slice(-20).join('\n'))
    throw err
  }
  writeFileSync(marker, `fuse-native 2.2.6 rebuilt: utimens passes mtime, attribute cache\n${stamp}\n`)
} catch (err) {
  console.error(`[xcloud] could not rebuild fuse-native (${err.message}); the prebuilt addon stays, and file times set through the mount will be wrong`)
}
