/**
 * Run `xcore init` and `xcore serve` as real child processes in temp folders, and talk to the
 * host over HTTPS pinned to its certificate, exactly as a client does. Every process started here
 * is killed (by pid) in the test's teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { X509Certificate, createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const XCORE = fileURLToPath(new URL('../../../src/cli/xcore.js', import.meta.url))

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run xcore to completion. */
export function runXcore(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [XCORE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`xcore ${args.join(' ')} timed out`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

export async function tempDir(t: Teardown, prefix = 'xcore-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

export interface InitedHost {
  dir: string
  hostId: string
}

export async function initHostDir(t: Teardown, bridgeUrl: string, extra: string[] = []): Promise<InitedHost> {
  const dir = join(await tempDir(t), 'host')
  const res = await runXcore(['init', '--data', dir, '--bridge', bridgeUrl, '--capacity', '1GB', ...extra])
  if (res.code !== 0) throw new Error(`xcore init failed (${res.code}): ${res.stderr}`)
  return { dir, hostId: res.stdout.trim() }
}

export interface ServedHost {
  url: string
  port: number
  dir: string
  hostId: string
  proc: ChildProcess
  certPem: string
  fingerprint: string
  agent: https.Agent
  /** The first stdout lines serveHost waited for. */
  lines: string[]
  stderr(): string
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>
}

/** `xcore serve`, once it has printed `lineCount` stdout lines (`listening <url>` first). */
export async function serveHost(t: Teardown, host: InitedHost, extra: string[] = [], lineCount = 1): Promise<ServedHost> {
  const proc = spawn(process.execPath, [XCORE, 'serve', '--data', host.dir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  let stderr = ''
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const lines = await new Promise<string[]>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`xcore serve did not start: ${stderr}`)), 20_000)
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const got = out.split('\n')
      if (got.length > lineCount) {
        clearTimeout(timer)
        resolve(got.slice(0, lineCount))
      }
    })
    proc.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`xcore serve exited with ${code}: ${stderr}`))
    })
  })
  const firstLine = lines[0]!
  const m = /^listening (https:\/\/127\.0\.0\.1:(\d+))$/.exec(firstLine)
  if (!m) throw new Error(`unexpected first line: ${firstLine}`)
  const certPem = await readFile(join(host.dir, 'tls', 'cert.pem'), 'utf8')
  const fingerprint = new X509Certificate(certPem).fingerprint256
  const agent = pinnedAgent(certPem, fingerprint)
  t.teardown(() => agent.destroy())
  return { url: m[1]!, port: Number(m[2]), dir: host.dir, hostId: host.hostId, proc, certPem, fingerprint, agent, lines, stderr: () => stderr, exited }
}

/** How a client connects to a host: trust exactly this certificate, and check its fingerprint. */
export function pinnedAgent(certPem: string, fingerprint: string, alpn?: string[]): https.Agent {
  return new https.Agent({
    keepAlive: true,
    ca: certPem,
    ...(alpn ? { ALPNProtocols: alpn } : {}),
    checkServerIdentity: (_host, cert) => (cert.fingerprint256 === fingerprint ? undefined : new Error(`certificate fingerprint ${cert.fingerprint256} is not the pinned ${fingerprint}`)),
  })
}

export interface HttpResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  json(): any
}

export function request(
  host: Pick<ServedHost, 'port' | 'agent'>,
  opts: { method: string; path: string; headers?: Record<string, string | number>; body?: Buffer },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: host.port, method: opts.method, path: opts.path, headers: opts.headers ?? {}, agent: host.agent },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const body = Buffer.concat(chunks)
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) })
        })
      },
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

/** Poll `cond` every 50 ms until it holds (async conditions allowed). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

interface TokenMinter {
  token(claims: { op: 'put' | 'get'; h: string; host: string; size?: number }): string
}

/** PUT a shard with a fresh token. */
export function putShard(bridge: TokenMinter, host: Pick<ServedHost, 'port' | 'agent' | 'hostId'>, bytes: Buffer): Promise<HttpResult> {
  const h = sha256(bytes)
  return request(host, {
    method: 'PUT',
    path: `/shards/${h}`,
    headers: { authorization: `XC-Token ${bridge.token({ op: 'put', h, host: host.hostId, size: bytes.length })}`, 'content-length': bytes.length },
    body: bytes,
  })
}

/** GET a shard with a fresh token. */
export function getShard(bridge: TokenMinter, host: Pick<ServedHost, 'port' | 'agent' | 'hostId'>, hash: string): Promise<HttpResult> {
  return request(host, { method: 'GET', path: `/shards/${hash}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'get', h: hash, host: host.hostId })}` } })
}

/** POST /orders as the bridge does. */
export function postOrder(host: Pick<ServedHost, 'port' | 'agent'>, wire: string): Promise<HttpResult> {
  const body = Buffer.from(JSON.stringify({ order: wire }))
  return request(host, { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json', 'content-length': body.length }, body })
}

/** What the bridge hands out to reach a host (replicate orders name their source this way). */
export function contactOf(host: Pick<ServedHost, 'hostId' | 'url' | 'fingerprint' | 'certPem'>): { id: string; url: string; fingerprint: string; cert: string; region: string } {
  return { id: host.hostId, url: host.url, fingerprint: host.fingerprint, cert: host.certPem, region: 'default' }
}
