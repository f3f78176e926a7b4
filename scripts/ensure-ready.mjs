#!/usr/bin/env node
// Run before `npm start` and `npm test`: install npm dependencies when they are missing or older
// than the lockfile, then build. Plain Node, no dependencies, so it works on a fresh clone.
import { execFileSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' })

const stamp = path.join(root, 'node_modules', '.package-lock.json')
const lock = path.join(root, 'package-lock.json')
if (!existsSync(stamp) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(stamp).mtimeMs)) {
  console.error('[xcloud] installing npm dependencies (native modules compile; this can take a few minutes)…')
  run(npm, [existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund'])
}
console.error('[xcloud] building…')
run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')])
// The mount's native addon with its fix (see native-deps/fuse-native.mjs); a no-op once built.
run(process.execPath, [path.join(root, 'native-deps', 'fuse-native.mjs')])
