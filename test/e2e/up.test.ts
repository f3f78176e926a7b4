/**
 * `xcloud up` as a newcomer runs it: a child process in an empty folder starts a bridge, hosts
 * and the mounted drive; files written through the mount are read back; SIGINT (Ctrl-C) pushes
 * what is pending, unmounts and stops every process it started; a second run brings back the
 * same drive with the same files. A second device logged in to the same account then downloads
 * them from the hosts, which shows the first stop pushed them out rather than leaving them in
 * the local cache. Without FUSE, `up` fails with the install command and starts nothing.
 */
import t from 'tap'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { programArgv } from '../../src/shared/node-flags.js'
import { detach, mounted, sh } from '../helpers/mount.js'

interface UpRun {
  proc: ChildProcess
  stdout: string[]
  stderr: () => string
  exited: Promise<number | null>
}

/** Every live descendant of `pid` (from /proc: parent pid is field 4 of /proc/N/stat). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      parent.set(Number(name), Number(fields[1]))
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = []
  const walk = (p: number): void => {
    for (const [child, pp] of parent) if (pp === p) { out.push(child); walk(child) }
  }
  walk(pid)
  return out
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function startUp(cwd: string, args: string[], env: Record<string, string> = {}): UpRun {
  const proc = spawn(process.execPath, programArgv('xcloud', ['up', ...args]), { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  const stdout: string[] = []
  let stderr = ''
  proc.stderr!.on('data', (d) => { stderr += d })
  createInterface({ input: proc.stdout! }).on('line', (l) => stdout.push(l))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return { proc, stdout, stderr: () => stderr, exited }
}

async function waitUp(run: UpRun, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!run.stdout.includes('X Cloud is up. Press Ctrl-C to stop.')) {
    if (run.proc.exitCode !== null) throw new Error(`xcloud up exited ${run.proc.exitCode}: ${run.stderr()}\n${run.stdout.join('\n')}`)
    if (Date.now() > deadline) throw new Error(`xcloud up did not come up: ${run.stdout.join('\n')}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const root = mkdtempSync(path.join(tmpdir(), 'xcloud-up-'))
const drive = path.join(root, 'XCloud')
const runs: UpRun[] = []
t.teardown(async () => {
  for (const run of runs) {
    if (run.proc.exitCode === null && run.proc.signalCode === null) {
      const kids = descendants(run.proc.pid!)
      run.proc.kill('SIGKILL')
      for (const pid of kids) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
    }
  }
  if (mounted(drive)) await detach(drive)
  rmSync(root, { recursive: true, force: true })
})

t.test('xcloud up: write through the drive, Ctrl-C, run again, same files', async (t) => {
  // Run 1 from an empty folder with the defaults for --dir and --mount (./.xcloud, ./XCloud).
  const first = startUp(root, ['--hosts', '4'])
  runs.push(first)
  await waitUp(first)
  const out1 = first.stdout.join('\n')
  t.match(out1, /recovery phrase/, 'the recovery phrase is printed on the first run')
  const phrase = readFileSync(path.join(root, '.xcloud', 'recovery-phrase.txt'), 'utf8').trim()
  t.equal(phrase.split(' ').length, 24, 'a 24-word phrase is kept in the data folder')
  t.ok(out1.includes(phrase), 'the printed phrase is the stored one')
  t.equal(statSync(path.join(root, '.xcloud', 'recovery-phrase.txt')).mode & 0o777, 0o600, 'readable by the owner only')
  t.match(out1, /^bridge +http:\/\/127\.0\.0\.1:\d+/m, 'says where the bridge runs')
  t.equal(out1.match(/^host \d+ +https:\/\/127\.0\.0\.1:\d+/gm)?.length, 4, 'and each of the 4 hosts')
  t.ok(out1.includes(`drive    ${drive}`), 'and where the drive is')
  t.ok(mounted(drive), 'the drive is mounted at ./XCloud')
  const again = startUp(root, ['--hosts', '4'])
  runs.push(again)
  t.equal(await again.exited, 2, 'a second `up` from the same folder is refused')
  t.match(again.stderr(), /^error XC_USAGE: X Cloud is already up from /)

  await sh(`printf 'hello from up\\n' > XCloud/hello.txt && mkdir -p XCloud/docs/deep && head -c 5000000 /dev/urandom > big.src && cp big.src XCloud/docs/deep/big.bin && cp big.src XCloud/docs/copy.bin`, { cwd: root })
  t.equal((await sh('cat XCloud/hello.txt', { cwd: root })).stdout, 'hello from up\n', 'read back through the mount')
  await sh('cmp big.src XCloud/docs/deep/big.bin', { cwd: root })
  t.pass('5 MB file identical through the mount')

  // Ctrl-C right after the writes: the pending uploads are pushed before the drive goes.
  const kids = descendants(first.proc.pid!)
  t.ok(kids.length >= 6, `up runs a bridge, hosts and the mount daemon (${kids.length} processes)`)
  first.proc.kill('SIGINT')
  t.equal(await first.exited, 0, 'exits 0 on SIGINT')
  t.notOk(mounted(drive), 'the drive is unmounted')
  t.same(kids.filter(alive), [], 'no process it started is left')

  // Run 2: no new account or phrase, same drive and files.
  const second = startUp(root, ['--hosts', '4'])
  runs.push(second)
  await waitUp(second)
  t.notMatch(second.stdout.join('\n'), /recovery phrase/, 'the phrase is printed only once')
  t.equal((await sh('cat XCloud/hello.txt', { cwd: root })).stdout, 'hello from up\n', 'the text file is back')
  await sh('cmp big.src XCloud/docs/deep/big.bin && cmp big.src XCloud/docs/copy.bin', { cwd: root })
  t.pass('both large files are back, identical')

  // A second device with the same account reads the files from the hosts, not from a cache.
  const bridge = /^bridge +(\S+)/m.exec(second.stdout.join('\n'))![1]!
  const password = readFileSync(path.join(root, '.xcloud', 'password'), 'utf8').trim()
  const other = path.join(root, 'device-2')
  mkdirSync(other)
  await sh(`node ${programArgv('xcloud', []).join(' ')} --home "${other}" login --bridge ${bridge} --email me@xcloud.local`, { env: { XCLOUD_PASSWORD: password } })
  await sh(`node ${programArgv('xcloud', []).join(' ')} --home "${other}" get /docs/deep/big.bin "${root}/fetched.bin" && cmp big.src fetched.bin`, { cwd: root })
  t.pass('a second device downloads the same bytes from the hosts')

  const kids2 = descendants(second.proc.pid!)
  second.proc.kill('SIGINT')
  t.equal(await second.exited, 0, 'the second run also stops cleanly')
  t.notOk(mounted(drive), 'unmounted again')
  t.same(kids2.filter(alive), [], 'nothing left running')
})

t.test('xcloud up without libfuse fails with the install command and starts nothing', async (t) => {
  const dir = path.join(root, 'nofuse')
  const emptyLib = path.join(dir, 'empty-lib')
  mkdirSync(emptyLib, { recursive: true })
  const run = startUp(dir, ['--hosts', '2'], { XCLOUD_FUSE_LIBRARY_PATH: emptyLib })
  runs.push(run)
  t.equal(await run.exited, 1, 'exit code 1')
  const err = run.stderr()
  t.match(err, /^error XC_FUSE_MISSING: FUSE is not available/, 'a stable code and a plain sentence')
  t.match(err, /libfuse 2 \(libfuse\.so\.2\) was not found/, 'says what is missing')
  t.match(err, /apt-get install -y libfuse2/, 'names the Debian package to install')
  t.match(err, /dnf install -y fuse-libs/, 'and the Fedora one')
  t.match(err, /macfuse/, 'and macFUSE')
  t.notMatch(err, /\n\s+at /, 'no stack trace')
  t.notOk(existsSync(path.join(dir, '.xcloud')), 'no network was started')
  t.notOk(existsSync(path.join(dir, 'XCloud')), 'no mount point was made')
})

t.test('xcloud mount without libfuse fails the same way', (t) => {
  const emptyLib = mkdtempSync(path.join(root, 'lib-'))
  execFile(process.execPath, programArgv('xcloud', ['--home', path.join(root, 'nohome'), 'mount', path.join(root, 'nomount')]), { env: { ...process.env, XCLOUD_FUSE_LIBRARY_PATH: emptyLib } }, (err, _stdout, stderr) => {
    t.equal((err as { code?: number } | null)?.code, 1, 'exit code 1')
    t.match(stderr, /^error XC_FUSE_MISSING: /, 'stable code')
    t.match(stderr, /apt-get install -y libfuse2/, 'names the package')
    t.end()
  })
})
