/**
 * The client's settings file, HOME/config.json (HOME is --home, $XCLOUD_HOME, or the XDG config
 * folder from env-paths: ~/.config/xcloud on Linux). Every key is optional and documented here
 * and in docs/config.md; a command-line flag beats the file, the file beats the default. Unknown
 * keys and bad values are refused with XC_CONFIG naming the key, never silently ignored: a typo
 * in a setting should not quietly leave the default in force.
 */
import { mkdir, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { XError } from '../../shared/errors.js'
import { writeFileAtomic } from './home.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

interface IntKey { kind: 'int'; min: number; max: number; default: number; doc: string }
interface PathKey { kind: 'path'; default: string; doc: string }
interface EnumKey { kind: 'enum'; values: readonly string[]; default: string; doc: string }
type KeySpec = IntKey | PathKey | EnumKey

export const CONFIG_KEYS = {
  mountpoint: { kind: 'path', default: '~/XCloud', doc: 'where `xcloud mount` mounts the drive when no mount point is given' },
  cacheShards: { kind: 'int', min: 4, max: 4096, default: 24, doc: 'plaintext shards (2 MiB each) the mount keeps in memory for reads' },
  writeBackDelayMs: { kind: 'int', min: 0, max: 3_600_000, default: 2000, doc: 'how long a closed file waits before its upload starts (ms)' },
  drainSeconds: { kind: 'int', min: 0, max: 3600, default: 30, doc: 'how long stopping the mount may push pending uploads before it unmounts' },
  logLevel: { kind: 'enum', values: LOG_LEVELS, default: 'info', doc: 'log level of the mount daemon (logs are pino JSON lines on stderr)' },
  attrCache: { kind: 'enum', values: ['on', 'off'], default: 'on', doc: 'answer repeated stat requests on the mount in native code, without a round trip into the daemon' },
} as const satisfies Record<string, KeySpec>

export type ConfigKey = keyof typeof CONFIG_KEYS
export interface ClientConfig {
  mountpoint: string
  cacheShards: number
  writeBackDelayMs: number
  drainSeconds: number
  logLevel: LogLevel
  attrCache: 'on' | 'off'
}

export const CONFIG_FILE = 'config.json'

export function isConfigKey(key: string): key is ConfigKey {
  return Object.prototype.hasOwnProperty.call(CONFIG_KEYS, key)
}

/** Check one value (from the file as JSON, or from the command line as text); returns it typed. */
export function parseConfigValue(key: string, value: unknown, where: string): string | number {
  if (!isConfigKey(key)) throw new XError('XC_CONFIG', `${where}: unknown key "${key}" (known: ${Object.keys(CONFIG_KEYS).join(', ')})`)
  const spec: KeySpec = CONFIG_KEYS[key]
  if (spec.kind === 'int') {
    const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : value
    if (typeof n !== 'number' || !Number.isInteger(n) || n < spec.min || n > spec.max) {
      throw new XError('XC_CONFIG', `${where}: ${key} must be a whole number from ${spec.min} to ${spec.max}`)
    }
    return n
  }
  if (typeof value !== 'string' || value.trim() === '' || value.length > 4096 || value.includes('\0')) {
    throw new XError('XC_CONFIG', `${where}: ${key} must be a non-empty string`)
  }
  if (spec.kind === 'enum' && !spec.values.includes(value)) throw new XError('XC_CONFIG', `${where}: ${key} must be one of ${spec.values.join(', ')}`)
  return value
}

/** `~` and `~/…` to the user's home; relative paths stay relative to the caller's folder. */
export function expandHome(p: string): string {
  return p === '~' ? os.homedir() : p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p
}

/** What the file sets (validated), without defaults. A missing file sets nothing. */
export async function readConfigFile(home: string): Promise<Partial<ClientConfig>> {
  const file = path.join(home, CONFIG_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new XError('XC_CONFIG', `cannot read ${file}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new XError('XC_CONFIG', `${file} is not valid JSON`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new XError('XC_CONFIG', `${file} must hold a JSON object`)
  const out: Record<string, string | number> = {}
  for (const [k, v] of Object.entries(raw)) out[k] = parseConfigValue(k, v, file)
  return out as Partial<ClientConfig>
}

/** Defaults, then the file: the settings a command starts from (flags are applied by the CLI). */
export async function loadConfig(home: string): Promise<{ config: ClientConfig; fromFile: Partial<ClientConfig> }> {
  const fromFile = await readConfigFile(home)
  const defaults = Object.fromEntries(Object.entries(CONFIG_KEYS).map(([k, s]) => [k, s.default])) as unknown as ClientConfig
  const config = { ...defaults, ...fromFile }
  config.mountpoint = expandHome(config.mountpoint)
  return { config, fromFile }
}

/** Set (value given) or remove (undefined) one key, atomically; returns the file's new content. */
export async function updateConfigFile(home: string, key: string, value: string | undefined): Promise<Partial<ClientConfig>> {
  if (!isConfigKey(key)) throw new XError('XC_CONFIG', `unknown key "${key}" (known: ${Object.keys(CONFIG_KEYS).join(', ')})`)
  const current: Record<string, unknown> = { ...(await readConfigFile(home)) }
  if (value === undefined) delete current[key]
  else current[key] = parseConfigValue(key, value, 'xcloud config')
  await mkdir(home, { recursive: true, mode: 0o700 })
  await writeFileAtomic(path.join(home, CONFIG_FILE), JSON.stringify(current, null, 2) + '\n')
  return current as Partial<ClientConfig>
}
