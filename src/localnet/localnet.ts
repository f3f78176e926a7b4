/**
 * A whole X Cloud network on this machine: one bridge and N hosts, each a real child process
 * (`xbridge serve`, `xcore serve`) on an ephemeral loopback port, with data under one folder.
 * Tests, benchmarks and `xcloud up` all start networks through this, so what they exercise is
 * the shipped programs. Hosts can be stopped and restarted to simulate failures; `close()` (and
 * process exit) ends every child it started, by pid.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { XError } from '../shared/errors.js'
import { programArgv, programPath, type Program } from '../shared/node-flags.js'

const execFileP = promisify(execFile)
export const CLI = {
  xbridge: programPath('xbridge'),
  xcore: programPath('xcore'),
  xcloud: programPath('xcloud'),
}

export interface HostSpec {
  capacity?: string
  region?: string
  maxUploadRate?: string
  maxDownloadRate?: string
}

export interface LocalNetOptions {
  dir: string
  hosts?: number
  mirrors?: number
  host?: (index: number) => HostSpec
  /** Bridge listen address (default 127.0.0.1:0). */
  bridgeListen?: string
  /** Extra `xbridge serve` flags. */
  bridgeArgs?: string[]
  /** Extra `xcore serve` flags. */
  hostArgs?: string[]
  logLevel?: string
}

export interface HostProc {
  index: number
  dir: string
  id: string
  url: string
  proc: ChildProcess | null
}

const live = new Set<ChildProcess>()
process.on('exit', () => { for (const p of live) p.kill('SIGKILL') })

/** Spawn a CLI and resolve when it prints `listening <url>` as its first line. */
function spawnListening(program: Program, args: string[], logFile: string): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, programArgv(program, [...args, '--stop-with-parent', String(process.pid)]), { stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(proc)
    const log = createWriteStream(logFile, { flags: 'a' })
    proc.stderr!.pipe(log)
    const lines = createInterface({ input: proc.stdout! })
    let first = true
    lines.on('line', (line) => {
      if (first) {
        first = false
        const m = /^listening (\S+)$/.exec(line)
        if (m) resolve({ proc, url: m[1]! })
        else reject(new XError('XC_INTERNAL', `${program} printed "${line}" instead of "listening <url>"`))
      }
      log.write(line + '\n')
    })
    proc.on('exit', (code, signal) => {
      live.delete(proc)
      if (first) reject(new XError('XC_INTERNAL', `${program} ${args.join(' ')} exited (${code ?? signal}) before listening; see ${logFile}`))
    })
  })
}

export async function stopProcess(proc: ChildProcess | null, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  proc.kill(signal)
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
  live.delete(proc)
}

export class LocalNet {
  bridgeUrl = ''
  bridge: ChildProcess | null = null
  readonly hosts: HostProc[] = []
  readonly bridgeDir: string

  constructor(readonly opts: LocalNetOptions) {
    this.bridgeDir = path.join(opts.dir, 'bridge')
  }

  static async start(opts: LocalNetOptions): Promise<LocalNet> {
    const net = new LocalNet(opts)
    try {
      await net.startBridge()
      await Promise.all(Array.from({ length: opts.hosts ?? 6 }, (_, i) => net.addHost(i)))
      await net.waitOnline(opts.hosts ?? 6)
    } catch (err) {
      await net.close()
      throw err
    }
    return net
  }

  private logArgs(): string[] {
    return this.opts.logLevel ? ['--log-level', this.opts.logLevel] : []
  }

  async startBridge(): Promise<void> {
    await mkdir(this.bridgeDir, { recursive: true })
    const args = ['serve', '--data', this.bridgeDir, '--listen', this.opts.bridgeListen ?? '127.0.0.1:0', ...this.logArgs(), ...(this.opts.bridgeArgs ?? [])]
    if (this.opts.mirrors) args.push('--mirrors', String(this.opts.mirrors))
    const { proc, url } = await spawnListening('xbridge', args, path.join(this.opts.dir, 'bridge.log'))
    this.bridge = proc
    this.bridgeUrl = url
  }

  async addHost(index: number): Promise<HostProc> {
    const dir = path.join(this.opts.dir, `host-${index}`)
    const spec = this.opts.host?.(index) ?? {}
    if (!existsSync(path.join(dir, 'config.json'))) {
      const args = ['init', '--data', dir, '--bridge', this.bridgeUrl, '--capacity', spec.capacity ?? '20GB', '--listen', '127.0.0.1:0']
      if (spec.region) args.push('--region', spec.region)
      if (spec.maxUploadRate) args.push('--max-upload-rate', spec.maxUploadRate)
      if (spec.maxDownloadRate) args.push('--max-download-rate', spec.maxDownloadRate)
      await execFileP(process.execPath, programArgv('xcore', args))
    }
    const host: HostProc = { index, dir, id: '', url: '', proc: null }
    this.hosts[index] = host
    await this.startHost(index)
    return host
  }

  async startHost(index: number): Promise<void> {
    const host = this.hosts[index]!
    const { proc, url } = await spawnListening('xcore', ['serve', '--data', host.dir, ...this.logArgs(), ...(this.opts.hostArgs ?? [])], path.join(this.opts.dir, `host-${index}.log`))
    host.proc = proc
    host.url = url
    if (!host.id) {
      const { stdout } = await execFileP(process.execPath, programArgv('xcore', ['status', '--data', host.dir, '--json']))
      host.id = (JSON.parse(stdout) as { hostId: string }).hostId
    }
  }

  /** Stop a host (SIGKILL simulates a crash). */
  async stopHost(index: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const host = this.hosts[index]!
    await stopProcess(host.proc, signal)
    host.proc = null
  }

  /** `xbridge admin --data <bridge dir> …`, parsed as JSON. */
  async admin<T>(...args: string[]): Promise<T> {
    const { stdout } = await execFileP(process.execPath, programArgv('xbridge', ['admin', '--data', this.bridgeDir, ...args, '--json']), { maxBuffer: 256 * 1024 * 1024 })
    return JSON.parse(stdout) as T
  }

  async waitOnline(count: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hosts = await this.admin<Array<{ online: boolean }>>('hosts', 'list')
      if (hosts.filter((h) => h.online).length >= count) return
      if (Date.now() > deadline) throw new XError('XC_TIMEOUT', `only ${hosts.filter((h) => h.online).length} of ${count} hosts came online`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.hosts.map((h) => stopProcess(h?.proc ?? null)))
    await stopProcess(this.bridge)
  }
}
