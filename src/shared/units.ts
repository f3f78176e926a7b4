/**
 * Human units on the command line and in config: sizes (`500GB`, `2MiB`), rates (`16MB/s`) and
 * durations (`5s`, `2m`, `1h`). Parsing is strict: anything else is XC_USAGE, never a guess.
 */
import { xerr } from './errors.js'

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
}

/** Parse a byte size such as `1073741824`, `10GB` or `512MiB`. */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(String(text))
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) throw xerr('XC_USAGE', `invalid ${what} "${text}" (examples: 500GB, 2MiB, 1048576)`)
  const value = Math.floor(Number(m[1]) * unit)
  if (!Number.isSafeInteger(value) || value < 0) throw xerr('XC_USAGE', `invalid ${what} "${text}"`)
  return value
}

/** Parse a rate in bytes per second such as `16MB/s` or `1048576`. */
export function parseRate(text: string, what = 'rate'): number {
  const s = String(text).trim().replace(/\/s$/i, '').replace(/ps$/i, '')
  const value = parseSize(s, what)
  if (value <= 0) throw xerr('XC_USAGE', `invalid ${what} "${text}": must be positive`)
  return value
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parse a duration such as `500ms`, `5s`, `2m`, `1h` or `1d` into milliseconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(String(text))
  if (!m) throw xerr('XC_USAGE', `invalid ${what} "${text}" (examples: 500ms, 5s, 2m, 1h)`)
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!)
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

/** Parse `HOST:PORT` (IPv4, [IPv6] or a name) for --listen. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(String(text).trim())
  const port = m ? Number(m[2]) : NaN
  if (!m || port > 65535) throw xerr('XC_USAGE', `invalid listen address "${text}" (expected HOST:PORT, e.g. 127.0.0.1:0)`)
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port }
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}
