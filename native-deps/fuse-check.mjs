#!/usr/bin/env node
// Is FUSE usable here? The drive (`xcloud mount`, `xcloud up`) needs three things from the
// system: libfuse 2 (fuse-native's addon links against libfuse.so.2), the /dev/fuse device, and
// the setuid `fusermount` helper (libfuse runs it to mount without root and to unmount). This
// finds each one and, for what is missing, prints the exact fix for Debian/Ubuntu, Fedora and
// macOS (macFUSE), with the line for this machine first.
//
// Plain Node without dependencies: it runs at `npm install` (postinstall, before anything is
// built), from `npm start`, and from `xcloud mount` / `xcloud up`, which import it.
//
// Overrides, for tests and unusual systems:
//   XCLOUD_FUSE_LIBRARY_PATH  colon-separated folders searched for libfuse instead of the
//                             system's (an empty folder simulates a machine without libfuse)
//   XCLOUD_FUSE_DEVICE        the device to check instead of /dev/fuse
//
// As a program: prints the report and exits 0 when FUSE is usable, else 1; with --warn it only
// warns and always exits 0 (postinstall: the bridge and hosts need no FUSE).
import { execFileSync } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const LINUX_LIB_DIRS = [
  '/lib', '/usr/lib', '/lib64', '/usr/lib64', '/usr/local/lib',
  '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu',
  '/lib/arm-linux-gnueabihf', '/usr/lib/arm-linux-gnueabihf', '/usr/lib/i386-linux-gnu',
]
const MAC_LIB_DIRS = ['/usr/local/lib', '/opt/homebrew/lib', '/Library/Filesystems/macfuse.fs/Contents/Resources/lib']

/** What to run on each system, per missing part. */
export const FIXES = {
  debian: { label: 'Debian/Ubuntu', lib: 'apt-get install -y libfuse2', fusermount: 'apt-get install -y fuse', both: 'apt-get install -y fuse libfuse2' },
  fedora: { label: 'Fedora', lib: 'dnf install -y fuse-libs', fusermount: 'dnf install -y fuse', both: 'dnf install -y fuse fuse-libs' },
  macos: { label: 'macOS', lib: 'brew install --cask macfuse', fusermount: 'brew install --cask macfuse', both: 'brew install --cask macfuse' },
}

/** debian | fedora | macos | null, from the platform and /etc/os-release (ID and ID_LIKE). */
export function detectFamily(platform = process.platform, osRelease = readOsRelease()) {
  if (platform === 'darwin') return 'macos'
  if (platform !== 'linux') return null
  const ids = `${osRelease.ID ?? ''} ${osRelease.ID_LIKE ?? ''}`.toLowerCase().split(/\s+/)
  if (ids.some((id) => ['debian', 'ubuntu', 'raspbian', 'linuxmint', 'pop'].includes(id))) return 'debian'
  if (ids.some((id) => ['fedora', 'rhel', 'centos', 'rocky', 'almalinux'].includes(id))) return 'fedora'
  return null
}

function readOsRelease() {
  const out = {}
  try {
    for (const line of readFileSync('/etc/os-release', 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=("?)(.*)\2$/.exec(line.trim())
      if (m) out[m[1]] = m[3]
    }
  } catch {
    // not every system has it
  }
  return out
}

function findInDirs(dirs, pattern) {
  for (const dir of dirs) {
    let names
    try {
      names = readdirSync(dir)
    } catch {
      continue
    }
    const hit = names.find((n) => pattern.test(n))
    if (hit) return path.join(dir, hit)
  }
  return null
}

/** The path of libfuse 2, or null. `libraryPath` (folders) replaces the system search. */
export function findLibfuse({ platform = process.platform, libraryPath = process.env.XCLOUD_FUSE_LIBRARY_PATH } = {}) {
  const pattern = platform === 'darwin' ? /^libfuse(\.2)?\.dylib$/ : /^libfuse\.so\.2(\.|$)/
  if (libraryPath !== undefined) return findInDirs(libraryPath.split(':').filter(Boolean), pattern)
  if (platform === 'linux') {
    try {
      const cache = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/sbin:/usr/sbin` } })
      const m = /libfuse\.so\.2 \([^)]*\) => (\S+)/.exec(cache)
      if (m) return m[1]
    } catch {
      // no ldconfig: search the usual folders
    }
  }
  const extra = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)
  return findInDirs([...extra, ...(platform === 'darwin' ? MAC_LIB_DIRS : LINUX_LIB_DIRS)], pattern)
}

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0

function findProgram(names) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/bin', '/usr/bin', '/sbin', '/usr/sbin', '/usr/local/bin']
  for (const dir of dirs) {
    for (const name of names) {
      const p = path.join(dir, name)
      try {
        accessSync(p, constants.X_OK)
        return p
      } catch {
        // keep looking
      }
    }
  }
  return null
}

/**
 * Check everything the mount needs. Returns { ok, family, problems: [{ what, detail, fix }],
 * message } where message is the whole human report (empty when ok).
 */
export function checkFuse(opts = {}) {
  const platform = opts.platform ?? process.platform
  const family = opts.family !== undefined ? opts.family : detectFamily(platform)
  const device = opts.device ?? process.env.XCLOUD_FUSE_DEVICE ?? '/dev/fuse'
  const problems = []
  if (platform !== 'linux' && platform !== 'darwin') {
    problems.push({ what: 'platform', detail: `the drive needs FUSE, which X Cloud supports on Linux and macOS (this is ${platform})`, fix: null })
  } else {
    const lib = findLibfuse({ platform, libraryPath: opts.libraryPath })
    if (!lib) problems.push({ what: 'libfuse', detail: platform === 'darwin' ? 'libfuse 2 from macFUSE (libfuse.2.dylib) was not found' : 'libfuse 2 (libfuse.so.2) was not found', fix: 'lib' })
    if (platform === 'linux') {
      if (!existsSync(device)) {
        problems.push({ what: 'device', detail: `${device} does not exist`, fix: 'device' })
      } else {
        let usable = true
        try {
          usable = statSync(device).isCharacterDevice()
          if (usable) accessSync(device, constants.R_OK | constants.W_OK)
        } catch {
          usable = false
        }
        if (!usable) problems.push({ what: 'device', detail: `${device} is not a character device this user may read and write`, fix: 'device-access' })
      }
      // Root mounts and unmounts without the setuid helper.
      if (!findProgram(['fusermount', 'fusermount3']) && !isRoot()) problems.push({ what: 'fusermount', detail: 'the fusermount helper was not found', fix: 'fusermount' })
    }
  }
  return { ok: problems.length === 0, family, problems, message: problems.length === 0 ? '' : report(problems, family) }
}

/** Which packages are missing: 'lib', 'fusermount', 'both', or null when packages would not help. */
function packageKind(problems) {
  const needLib = problems.some((p) => p.fix === 'lib')
  const needHelper = problems.some((p) => p.fix === 'fusermount')
  return needLib && needHelper ? 'both' : needLib ? 'lib' : needHelper ? 'fusermount' : null
}

/**
 * The package-manager command (without sudo) that installs what `checkFuse()` found missing on
 * this machine's family, as argv, or null (nothing to install, or an unknown system).
 */
export function installCommand(res) {
  const kind = packageKind(res.problems)
  if (!kind || !res.family || res.family === 'macos') return null
  return FIXES[res.family][kind].split(' ')
}

function report(problems, family) {
  const lines = ['FUSE is not available, so the drive cannot be mounted:']
  for (const p of problems) lines.push(`  - ${p.detail}`)
  const kind = packageKind(problems)
  if (kind) {
    lines.push('Install it:')
    const order = family ? [family, ...Object.keys(FIXES).filter((f) => f !== family)] : Object.keys(FIXES)
    // Root runs the package manager itself; everyone else through sudo.
    const sudo = isRoot() ? '' : 'sudo '
    for (const f of order) {
      const fix = FIXES[f]
      lines.push(`  ${(fix.label + ':').padEnd(15)}${f === 'macos' ? '' : sudo}${fix[kind]}${f === family ? '   <- this machine' : ''}`)
    }
    lines.push('  (Ubuntu 24.04 and later install libfuse2t64 for libfuse2; macFUSE is also at https://osxfuse.github.io and must be allowed in System Settings > Privacy & Security.)')
  }
  if (problems.some((p) => p.fix === 'device')) {
    lines.push('Load the kernel module: modprobe fuse (as root)   (in a container, start it with --device /dev/fuse --cap-add SYS_ADMIN)')
  }
  if (problems.some((p) => p.fix === 'device-access')) {
    lines.push('Give this user access to /dev/fuse (on most systems it is mode 0666; check `ls -l /dev/fuse`), or run in a container with --device /dev/fuse.')
  }
  return lines.join('\n')
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const warnOnly = process.argv.includes('--warn')
  const res = checkFuse()
  if (res.ok) {
    if (!warnOnly) process.stdout.write('FUSE is available (libfuse 2, /dev/fuse, fusermount)\n')
    process.exit(0)
  }
  process.stderr.write(`[xcloud] ${warnOnly ? 'note: ' : ''}${res.message}\n`)
  if (warnOnly) process.stderr.write('[xcloud] the bridge and hosts work without FUSE; only the drive needs it\n')
  process.exit(warnOnly ? 0 : 1)
}
