#!/usr/bin/env node
// Run before `npm start` and `npm test`: install npm dependencies when they are missing or older
// than the lockfile, install libfuse 2 when it is missing and this is root on Debian/Ubuntu or
// Fedora (otherwise print the exact command), then build. Plain Node, no dependencies, so it
// works on a fresh clone.
import { execFileSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkFuse, installCommand, isRoot } from '../native-deps/fuse-check.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' })

const fuse = checkFuse()
if (!fuse.ok) {
  const cmd = installCommand(fuse)
  if (cmd && isRoot()) {
    console.error(`[xcloud] FUSE is missing (${fuse.problems.map((p) => p.what).join(', ')}); installing: ${cmd.join(' ')}`)
    try {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
      if (cmd[0] === 'apt-get') execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
      execFileSync(cmd[0], cmd.slice(1), { stdio: 'inherit', env })
    } catch (err) {
      console.error(`[xcloud] installing FUSE failed (${err.message})`)
    }
  }
  const after = checkFuse()
  if (!after.ok) console.error(`[xcloud] ${after.message}\n[xcloud] the drive needs this; the rest goes on`)
}

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
