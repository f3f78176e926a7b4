/**
 * `xcore init`: create a host's data folder. The bridge is asked for its public key first, so a
 * wrong or unreachable bridge URL leaves nothing behind; config.json is written last and
 * exclusively, so it exists only for a complete folder and is never overwritten.
 */
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises'
import { XError, xerr } from '../shared/errors.js'
import { generateSigningKeys, hostIdOf } from '../shared/tokens.js'
import { parseListen } from '../shared/units.js'
import { fetchBridgeInfo } from './bridge/client.js'
import { hostPaths, normalizeSchedule, validateConfig, type HostConfig } from './config.js'
import { createTlsIdentity } from './tls/cert.js'

export interface InitHostOptions {
  dataDir: string
  bridge: string
  /** Bytes. */
  capacity: number
  /** HOST:PORT, default 127.0.0.1:0. */
  listen?: string
  region?: string
  /** Bytes per second; null or absent = unlimited. */
  maxUploadRate?: number | null
  maxDownloadRate?: number | null
  /** Online hours, UTC ("08:00-20:00"); null or absent = always. */
  schedule?: string | null
}

export interface InitHostResult {
  hostId: string
  publicKey: string
  fingerprint: string
  configPath: string
}

export async function initHost(opts: InitHostOptions): Promise<InitHostResult> {
  const paths = hostPaths(opts.dataDir)
  const listen = opts.listen ?? '127.0.0.1:0'
  const { host: listenHost } = parseListen(listen)
  if (!/^https?:\/\/[^/]/.test(opts.bridge)) throw xerr('XC_USAGE', `invalid bridge URL "${opts.bridge}" (expected http(s)://HOST[:PORT])`)
  const schedule = opts.schedule ? normalizeSchedule(opts.schedule) : null
  if (await exists(paths.config)) throw xerr('XC_EXISTS', `${paths.config} already exists: this folder is already a host`)

  const info = await fetchBridgeInfo(opts.bridge)

  const keys = generateSigningKeys()
  const hostId = hostIdOf(keys.publicKey)
  const config: HostConfig = validateConfig({
    bridge: opts.bridge.replace(/\/+$/, ''),
    listen,
    capacity: opts.capacity,
    region: opts.region ?? 'default',
    maxUploadRate: opts.maxUploadRate ?? null,
    maxDownloadRate: opts.maxDownloadRate ?? null,
    schedule,
    bridgePublicKey: info.publicKey,
    publicKey: keys.publicKey,
    privateKey: keys.privateKey,
  })
  const tls = createTlsIdentity(`xcore ${hostId.slice(0, 16)}`, listenHost)

  try {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 })
    await chmod(opts.dataDir, 0o700)
    await mkdir(paths.tlsDir, { recursive: true, mode: 0o700 })
    await mkdir(paths.shards, { recursive: true, mode: 0o700 })
    await mkdir(paths.tmp, { recursive: true, mode: 0o700 })
    await writeFile(paths.tlsKey, tls.keyPem, { mode: 0o600 })
    await writeFile(paths.tlsCert, tls.certPem, { mode: 0o644 })
    await writeFile(paths.config, JSON.stringify(config, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw xerr('XC_EXISTS', `${paths.config} already exists: this folder is already a host`)
    throw new XError('XC_LOCAL_IO', `cannot create the host folder ${opts.dataDir}: ${(err as Error).message}`)
  }
  return { hostId, publicKey: keys.publicKey, fingerprint: tls.fingerprint, configPath: paths.config }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}
