/**
 * What every CLI shares: exit codes (0 ok, 1 error, 2 usage), error printing with the stable
 * code, reading a secret from an environment variable or stdin, and progress bars on TTYs only.
 */
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { XError, toXError } from '../shared/errors.js'

export const EXIT_OK = 0
export const EXIT_ERROR = 1
export const EXIT_USAGE = 2

export function fail(err: unknown): never {
  const x = toXError(err)
  process.stderr.write(`error ${x.code}: ${x.message}\n`)
  process.exit(x.code === 'XC_USAGE' ? EXIT_USAGE : EXIT_ERROR)
}

/** Wrap a command action: errors become `error XC_…: message` and the right exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args)
    } catch (err) {
      fail(err)
    }
  }
}

/** A secret from `envName`, else the first line of stdin (no echo on a TTY). */
export async function readSecret(envName: string, prompt: string): Promise<string> {
  const fromEnv = process.env[envName]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  const tty = process.stdin.isTTY
  if (tty) process.stderr.write(prompt)
  const rl = createInterface({ input: process.stdin, terminal: false })
  try {
    for await (const line of rl) {
      if (tty) process.stderr.write('\n')
      return line.replace(/\r$/, '')
    }
  } finally {
    rl.close()
  }
  throw new XError('XC_USAGE', `no ${prompt.replace(/:\s*$/, '').toLowerCase()} given (set ${envName} or pipe it on stdin)`)
}

export interface Progress {
  update(value: number): void
  stop(): void
}

/** A progress bar on stderr when it is a terminal; otherwise a no-op. */
export function progress(total: number, label: string): Progress {
  if (!process.stderr.isTTY || total <= 0) return { update() {}, stop() {} }
  // Loaded only for a terminal: every command pays for what it imports at start.
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress')
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {percentage}% | {value_mb}/{total_mb} MiB | {speed} MB/s | ETA {eta}s`,
    hideCursor: true,
  }, cliProgress.Presets.shades_classic)
  const start = Date.now()
  const mb = (n: number): string => (n / 1048576).toFixed(1)
  bar.start(total, 0, { value_mb: mb(0), total_mb: mb(total), speed: '0' })
  return {
    update(value: number) {
      const secs = (Date.now() - start) / 1000
      bar.update(value, { value_mb: mb(value), total_mb: mb(total), speed: secs > 0 ? (value / 1e6 / secs).toFixed(0) : '0' })
    },
    stop() { bar.stop() },
  }
}

export function parseIntOption(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new XError('XC_USAGE', `${name} must be a whole number`)
    return Number(value)
  }
}

/**
 * For servers started by another program (tests, `xcloud up`): run `stop` once process `pid` is
 * gone, so a parent killed without cleanup never leaves daemons behind.
 */
export function stopWithParent(pid: number | undefined, stop: () => void): void {
  if (pid === undefined) return
  const timer = setInterval(() => {
    try {
      process.kill(pid, 0)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
        clearInterval(timer)
        stop()
      }
    }
  }, 500)
  timer.unref()
}

export const STOP_WITH_PARENT_FLAG = '--stop-with-parent <pid>'
