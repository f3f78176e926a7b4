/**
 * Test helpers: a whole network in one call (real `xbridge` and `xcore` processes on loopback,
 * cheap KDF settings), clients as real `xcloud` processes, and automatic teardown.
 */
import { execFile, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Test } from 'tap'
import { CLI, LocalNet, type LocalNetOptions } from '../../src/localnet/localnet.js'

/** Cheap scrypt for tests (the production default is 2^17). */
export const TEST_KDF_N = 1024
export const PASSWORD = 'correct horse battery staple'

const workdirs = new WeakMap<Test, string>()
let counter = 0

/**
 * A fresh folder inside the test's fixture folder. (tap's t.testdir() empties the folder each
 * time it is called, so everything here goes through this one call per test.)
 */
export function workdir(t: Test, name = `d${++counter}`): string {
  let root = workdirs.get(t)
  if (!root) {
    // tap removes the fixture folder after the teardowns only if a teardown was registered before
    // the folder was made; otherwise it removes it first, under processes still writing there
    // (hosts rewrite their status file every 2 s).
    t.teardown(() => {})
    root = t.testdir()
    workdirs.set(t, root)
  }
  const dir = path.join(root, name)
  mkdirSync(dir, { recursive: true })
  return dir
}

export async function startNetwork(t: Test, opts: Partial<LocalNetOptions> = {}): Promise<LocalNet> {
  const dir = opts.dir ?? workdir(t, `net${++counter}`)
  const net = await LocalNet.start({ hosts: 6, ...opts, dir })
  t.teardown(() => net.close())
  return net
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export function run(script: string, args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [script, ...args], {
      env: { ...process.env, ...opts.env },
      maxBuffer: 64 * 1024 * 1024,
      timeout: opts.timeoutMs ?? 600_000,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0
      resolve({ code, stdout, stderr })
    })
    if (opts.input !== undefined) child.stdin!.end(opts.input)
    else child.stdin!.end()
  })
}

export interface User {
  email: string
  home: string
  xcloud(...args: string[]): Promise<RunResult>
  /** Like xcloud() but fails the test on a non-zero exit. */
  ok(...args: string[]): Promise<string>
}

/** A device: `xcloud` with its own home, the test password in the environment. */
function device(email: string, home: string): User {
  const xcloud = (...args: string[]): Promise<RunResult> => run(CLI.xcloud, ['--home', home, ...args], { env: { XCLOUD_PASSWORD: PASSWORD } })
  const ok = async (...args: string[]): Promise<string> => {
    const r = await xcloud(...args)
    if (r.code !== 0) throw new Error(`xcloud ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
    return r.stdout
  }
  return { email, home, xcloud, ok }
}

export async function newUser(t: Test, net: LocalNet, email: string, home = workdir(t, `home-${email}`)): Promise<User> {
  const user = device(email, home)
  await user.ok('register', '--bridge', net.bridgeUrl, '--email', email, '--kdf-n', String(TEST_KDF_N))
  return user
}

/** The same account on another device (its own home). */
export async function loginDevice(t: Test, net: LocalNet, email: string, home = workdir(t, `home-${email}-${++counter}`)): Promise<User> {
  const user = device(email, home)
  await user.ok('login', '--bridge', net.bridgeUrl, '--email', email)
  return user
}

/** Write `size` random bytes to `file` in 1 MiB pieces; returns the SHA-256. */
export async function randomFile(file: string, size: number): Promise<string> {
  const hash = createHash('sha256')
  const out = createWriteStream(file)
  for (let off = 0; off < size; off += 1 << 20) {
    const chunk = randomBytes(Math.min(1 << 20, size - off))
    hash.update(chunk)
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()))
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())))
  return hash.digest('hex')
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export function shardPath(hostDir: string, hash: string): string {
  return path.join(hostDir, 'shards', hash.slice(0, 2), hash.slice(2, 4), hash)
}

export async function credentials(home: string): Promise<{ session: string; masterKey: string; bridge: string }> {
  return JSON.parse(await readFile(path.join(home, 'credentials.json'), 'utf8'))
}

export interface ShardRow { hash: string; size: number; hosts: string[] }
export interface HostRow { id: string; online: boolean; failures: number; url: string }

export { spawn }
