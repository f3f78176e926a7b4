#!/usr/bin/env node
// Rebuild fuse-native 2.2.6 with one fix: its utimens glue hands JavaScript the access time twice
// (argv 5..6 get l->atime instead of l->mtime), so every utimes/utimensat on the mount would set a
// file's modification time to its access time (rsync -a, tar, cp -p all lose their times). The
// fixed addon is built from fuse-native's own source with node-gyp into build/Release, which
// node-gyp-build loads before the bundled prebuilds; the headers and libfuse come from the
// fuse-shared-library packages it already depends on. Runs at `npm ci`/`npm install`
// (postinstall) and from scripts/ensure-ready.mjs; does nothing when the fixed build is in place.
// If it cannot build (no compiler), the prebuilt addon stays and this says so.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dir = path.join(root, 'node_modules', 'fuse-native')
const src = path.join(dir, 'fuse-native.c')
const marker = path.join(dir, 'build', 'Release', '.xcloud-utimens-fix')
const BUGGY = 'FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)'
const FIXED = 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)'

if (!existsSync(src)) process.exit(0) // not installed (yet)
const version = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version
if (version !== '2.2.6') {
  console.error(`[xcloud] fuse-native ${version}: the utimens fix is for 2.2.6; check whether it is still needed`)
  process.exit(0)
}
if (existsSync(marker) && existsSync(path.join(dir, 'build', 'Release', 'fuse.node'))) process.exit(0)

const code = readFileSync(src, 'utf8')
if (code.includes(BUGGY)) writeFileSync(src, code.replace(BUGGY, FIXED))

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
  console.error('[xcloud] building fuse-native with the utimens fix…')
  try {
    execFileSync(process.execPath, [gyp, 'rebuild', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    process.stderr.write(String(err.stderr ?? '').split('\n').slice(-20).join('\n'))
    throw err
  }
  writeFileSync(marker, 'fuse-native 2.2.6 rebuilt: utimens passes mtime\n')
} catch (err) {
  console.error(`[xcloud] could not rebuild fuse-native (${err.message}); the prebuilt addon stays, and file times set through the mount will be wrong`)
}
