/**
 * The bridge's own secrets, in DATA/keys.json (mode 0600): the Ed25519 key that signs transfer
 * tokens, and a random 32-byte secret that keys decoy KDF salts. Created on first start, then
 * only read: rotating the signing key would invalidate every outstanding token.
 */
import { randomBytes, type KeyObject } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { xerr } from '../shared/errors.js'
import { TOKEN_TTL_MS } from '../shared/protocol.js'
import { generateSigningKeys, privateKeyObject, signTransferToken, type SigningKeys } from '../shared/tokens.js'

export interface BridgeKeys extends SigningKeys {
  /** base64url, 32 bytes. */
  secret: string
}

export function loadOrCreateKeys(dataDir: string): BridgeKeys {
  const file = join(dataDir, 'keys.json')
  const text = readIfExists(file) ?? createKeys(file)
  const k = JSON.parse(text) as Partial<BridgeKeys>
  if (typeof k.publicKey !== 'string' || typeof k.privateKey !== 'string' || typeof k.secret !== 'string') {
    throw xerr('XC_CONFIG', `${file} is not a bridge key file`)
  }
  return { publicKey: k.publicKey, privateKey: k.privateKey, secret: k.secret }
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Write new keys exclusively; if another process won the race, use its keys. */
function createKeys(file: string): string {
  const keys: BridgeKeys = { ...generateSigningKeys(), secret: randomBytes(32).toString('base64url') }
  const text = JSON.stringify(keys, null, 2) + '\n'
  try {
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8')
    throw err
  }
  chmodSync(file, 0o600)
  return text
}

/** Mints transfer tokens: one shard, one host, one operation, TOKEN_TTL_MS of life. */
export class TokenMinter {
  private readonly key: KeyObject

  constructor(privateKey: string, private readonly now: () => number) {
    this.key = privateKeyObject(privateKey)
  }

  put(hash: string, host: string, size: number): string {
    return signTransferToken(this.key, { v: 1, op: 'put', h: hash, host, exp: this.now() + TOKEN_TTL_MS, size, n: nonce() })
  }

  get(hash: string, host: string): string {
    return signTransferToken(this.key, { v: 1, op: 'get', h: hash, host, exp: this.now() + TOKEN_TTL_MS, n: nonce() })
  }
}

function nonce(): string {
  return randomBytes(9).toString('base64url')
}
