/**
 * Account creation and login, client side. The password never leaves the device: a memory-hard
 * KDF turns it into an auth key (sent; the bridge keeps only a slow hash) and a wrapping key (kept)
 * that wraps the random master key stored at the bridge for other devices.
 */
import { XError } from '../../shared/errors.js'
import {
  defaultKdfParams, derivePasswordKeys, generateMasterKey, masterKeyToPhrase, unwrapKey, validateKdfParams, wrapKey,
} from '../../shared/crypto/index.js'
import { BridgeClient } from '../remote/bridge-client.js'
import type { Credentials } from './home.js'

export const MASTER_KEY_AAD = 'xc-mk-v1'
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,255}$/

export function normaliseEmail(email: string): string {
  const e = String(email ?? '').trim().toLowerCase()
  if (!EMAIL_RE.test(e)) throw new XError('XC_USAGE', `invalid email "${email}"`)
  return e
}

function checkPassword(password: string): void {
  if (typeof password !== 'string' || password.length === 0) throw new XError('XC_USAGE', 'empty password')
  if (password.length > 1024) throw new XError('XC_USAGE', 'password longer than 1024 characters')
}

/** Create an account; returns the recovery phrase (24 words) to show once. */
export async function registerAccount(bridgeUrl: string, email: string, password: string, opts: { kdfN?: number } = {}): Promise<{ phrase: string }> {
  checkPassword(password)
  const mail = normaliseEmail(email)
  const masterKey = generateMasterKey()
  const kdf = defaultKdfParams(opts.kdfN ? { N: opts.kdfN } : {})
  const { authKey, wrappingKey } = await derivePasswordKeys(password, kdf)
  const bridge = new BridgeClient(bridgeUrl)
  await bridge.register({
    email: mail,
    authKey: authKey.toString('base64url'),
    kdf,
    wrappedMasterKey: wrapKey(wrappingKey, masterKey, MASTER_KEY_AAD),
  })
  return { phrase: masterKeyToPhrase(masterKey) }
}

export async function loginAccount(bridgeUrl: string, email: string, password: string): Promise<Credentials> {
  checkPassword(password)
  const mail = normaliseEmail(email)
  const bridge = new BridgeClient(bridgeUrl)
  const { kdf } = await bridge.kdfParams(mail)
  const { authKey, wrappingKey } = await derivePasswordKeys(password, validateKdfParams(kdf))
  const res = await bridge.login(mail, authKey.toString('base64url'))
  const masterKey = unwrapKey(wrappingKey, res.wrappedMasterKey, MASTER_KEY_AAD)
  return { v: 1, bridge: bridge.url, email: mail, userId: res.userId, session: res.session, masterKey: masterKey.toString('base64url') }
}
