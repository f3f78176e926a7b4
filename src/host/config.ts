/**
 * The host's data folder and its config.json. The folder holds everything a host owns: its
 * signing key (the host id derives from it), its TLS key and certificate (clients pin the
 * certificate's fingerprint, so losing it means re-registering), and the shards themselves.
 *
 * config.json is only ever replaced whole (temp file, fsync, rename), so a running host that
 * re-reads it (live-config.ts) sees the old settings or the new ones, never half a file. Fields
 * added later are optional, so a folder written by an older version still loads unchanged
 * (test/host/fixtures/config-v1.json).
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { XError, xerr } from '../shared/errors.js'
import { parseSchedule } from '../shared/schedule.js'
import { parseListen } from '../shared/units.js'

export interface HostConfig {
  /** Bridge base URL, e.g. https://bridge.example or http://127.0.0.1:7000 */
  bridge: string
  /** HOST:PORT to listen on (port 0 = any free port). */
  listen: string
  /** Bytes of shards this host accepts. */
  capacity: number
  region: string
  /** Bytes per second the host sends (serving GETs); null = unlimited. */
  maxUploadRate: number | null
  /** Bytes per second the host receives (PUT bodies); null = unlimited. */
  maxDownloadRate: number | null
  /** Online hours, UTC ("08:00-20:00,22:00-23:00", see shared/schedule.ts); absent or null = always. */
  schedule?: string | null
  /** The bridge's Ed25519 key, pinned at init: transfer tokens must verify against it. */
  bridgePublicKey: string
  /** The host's Ed25519 key pair (base64url raw); the host id is hostIdOf(publicKey). */
  publicKey: string
  privateKey: string
}

export interface HostPaths {
  root: string
  config: string
  tlsDir: string
  tlsKey: string
  tlsCert: string
  /** Shards live at shards/<h[0..2]>/<h[2..4]>/<hash>. */
  shards: string
  /** Incoming shards are written here first, then renamed into shards/ (same filesystem). */
  tmp: string
  /** The URL of the running server, written after it listens. */
  url: string
  /** What the running server reports about itself (status-file.ts), rewritten every few seconds. */
  status: string
}

export function hostPaths(dataDir: string): HostPaths {
  return {
    root: dataDir,
    config: join(dataDir, 'config.json'),
    tlsDir: join(dataDir, 'tls'),
    tlsKey: join(dataDir, 'tls', 'key.pem'),
    tlsCert: join(dataDir, 'tls', 'cert.pem'),
    shards: join(dataDir, 'shards'),
    tmp: join(dataDir, 'tmp'),
    url: join(dataDir, 'url'),
    status: join(dataDir, 'status.json'),
  }
}

export async function loadConfig(dataDir: string): Promise<HostConfig> {
  const file = hostPaths(dataDir).config
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw xerr('XC_CONFIG', `no host config at ${file}: run \`xcore init --data ${dataDir} …\` first`)
    }
    throw new XError('XC_LOCAL_IO', `cannot read ${file}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw xerr('XC_CONFIG', `${file} is not valid JSON`)
  }
  return validateConfig(raw, file)
}

/** Check every field so a hand-edited config fails at start with a clear message, not later. */
export function validateConfig(raw: unknown, where = 'config'): HostConfig {
  const c = raw as Record<string, unknown> | null
  const bad = (field: string, want: string): never => {
    throw xerr('XC_CONFIG', `${where}: "${field}" must be ${want}`)
  }
  if (typeof c !== 'object' || c === null) return bad('(root)', 'an object')
  const str = (k: string): string => (typeof c[k] === 'string' && c[k] !== '' ? (c[k] as string) : bad(k, 'a non-empty string'))
  const count = (k: string): number => (Number.isSafeInteger(c[k]) && (c[k] as number) >= 0 ? (c[k] as number) : bad(k, 'a non-negative integer'))
  const rate = (k: string): number | null => (c[k] === null || c[k] === undefined ? null : Number.isSafeInteger(c[k]) && (c[k] as number) > 0 ? (c[k] as number) : bad(k, 'a positive integer or null'))
  const cfg: HostConfig = {
    bridge: str('bridge'),
    listen: str('listen'),
    capacity: count('capacity'),
    region: str('region'),
    maxUploadRate: rate('maxUploadRate'),
    maxDownloadRate: rate('maxDownloadRate'),
    bridgePublicKey: str('bridgePublicKey'),
    publicKey: str('publicKey'),
    privateKey: str('privateKey'),
  }
  if (!/^https?:\/\//.test(cfg.bridge)) bad('bridge', 'an http:// or https:// URL')
  try {
    parseListen(cfg.listen)
  } catch {
    bad('listen', 'HOST:PORT')
  }
  if (c.schedule !== undefined) {
    const s = c.schedule
    if (s !== null && (typeof s !== 'string' || !isSchedule(s))) bad('schedule', 'null or UTC hours "HH:MM-HH:MM[,…]"')
    cfg.schedule = s as string | null
  }
  return cfg
}

function isSchedule(s: string): boolean {
  try {
    parseSchedule(s)
    return true
  } catch {
    return false
  }
}

/** A schedule as the owner typed it, checked and in canonical form ("08:00-20:00,22:00-23:00"). */
export function normalizeSchedule(text: string): string {
  parseSchedule(text)
  return text.split(',').map((p) => p.trim()).join(',')
}

/**
 * Replace config.json atomically: validate, write a private temp file beside it, fsync, rename
 * over the old one, fsync the folder. A crash leaves the old file or the new one.
 */
export async function writeConfig(dataDir: string, config: HostConfig): Promise<void> {
  const file = hostPaths(dataDir).config
  const checked = validateConfig(config, file)
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const fh = await open(tmp, 'wx', 0o600)
    try {
      await fh.writeFile(JSON.stringify(checked, null, 2) + '\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
    const dir = await open(dataDir, 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw new XError('XC_LOCAL_IO', `cannot write ${file}: ${(err as Error).message}`)
  }
}
