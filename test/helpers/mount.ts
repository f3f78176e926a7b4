/**
 * Mount helpers: a real `xcloud mount` daemon per device, and shell commands run in child
 * processes (a process that touches its own FUSE mount synchronously would deadlock, and the
 * daemon is a separate process here anyway). Every mount is stopped in teardown; a mount whose
 * daemon died is detached with `fusermount -uz`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'
import { programArgv } from '../../src/shared/node-flags.js'
import type { User } from './network.js'

export interface Mount {
  dir: string
  home: string
  proc: ChildProcess
  /** The daemon's stderr so far. */
  log(): string
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<number | null>
  /**
   * SIGKILL the daemon. The dead mount answers ENOTCONN until it is detached; `before` runs in
   * between (wait there for programs still using the mount: once it is detached, their paths
   * lead into the plain folder underneath).
   */
  kill9(before?: () => Promise<unknown>): Promise<void>
}

/** Whether `dir` is a mount point now (from /proc/mounts). */
export function mounted(dir: string): boolean {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir)
}

export function detach(dir: string): Promise<void> {
  return new Promise((resolve) => execFile('fusermount', ['-uz', dir], () => resolve()))
}

/**
 * Mount points live outside tap's fixture folder: tap removes that folder before later teardowns
 * run, and a folder with a live mount on it cannot be removed.
 */
function mountDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'xcloud-mnt-'))
}

export async function mount(t: Test, user: Pick<User, 'home'>, dir = mountDir(), extra: string[] = []): Promise<Mount> {
  const proc = spawn(process.execPath, programArgv('xcloud', ['--home', user.home, 'mount', dir, '--stop-with-parent', String(process.pid), ...extra]), {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  proc.stderr!.on('data', (d) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout! })
    lines.once('line', (line) => (line.startsWith('mounted ') ? resolve() : reject(new Error(`mount printed "${line}"`))))
    exited.then((code) => reject(new Error(`xcloud mount exited ${code}: ${stderr}`)))
  })
  let stopped = false
  const m: Mount = {
    dir,
    home: user.home,
    proc,
    log: () => stderr,
    async stop() {
      if (stopped) return proc.exitCode
      stopped = true
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000)
      const code = await exited
      clearTimeout(timer)
      if (mounted(dir)) await detach(dir)
      return code
    },
    async kill9(before) {
      stopped = true
      proc.kill('SIGKILL')
      await exited
      await before?.()
      await detach(dir)
    },
  }
  t.teardown(async () => {
    await m.stop()
    if (dir.startsWith(tmpdir())) { try { rmdirSync(dir) } catch { /* kept for a remount */ } }
  })
  return m
}

export interface ShResult {
  code: number
  stdout: string
  stderr: string
}

/** Run `cmd` with sh in a child process; rejects on a non-zero exit unless `allowFail`. */
export function sh(cmd: string, opts: { cwd?: string; allowFail?: boolean; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<ShResult> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', cmd], { cwd: opts.cwd, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...opts.env } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0
      if (code !== 0 && !opts.allowFail) reject(new Error(`${cmd} exited ${code}: ${stderr}`))
      else resolve({ code, stdout, stderr })
    })
  })
}

/**
 * Run a JavaScript program in a child node process (the test process must not touch a FUSE mount
 * synchronously) with `args` as process.argv[1..], and parse the JSON it prints.
 */
export async function nodeJson<T = Record<string, unknown>>(script: string, ...args: string[]): Promise<T> {
  const quote = (a: string): string => `'${a.replace(/'/g, "'\\''")}'`
  const { stdout } = await sh(`node -e ${quote(script)} ${args.map(quote).join(' ')}`)
  return JSON.parse(stdout) as T
}

/** sha256 of every file under `dir`, with its path relative to `dir`, sorted (symlinks by target). */
export async function treeDigest(dir: string): Promise<string> {
  const { stdout } = await sh(`find . \\( -type f -exec sha256sum {} + \\) -o \\( -type l -printf 'link %p -> %l\\n' \\) -o \\( -type d -printf 'dir %p\\n' \\) | LC_ALL=C sort`, { cwd: dir })
  return stdout
}

/** Wait until `fn` returns true (polling), or fail after `ms`. */
export async function until(fn: () => Promise<boolean> | boolean, ms: number, what: string): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await fn()) return Date.now() - start
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
