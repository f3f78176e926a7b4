/**
 * A client's home folder: which bridge, which account, the session and the master key. Each
 * device (or test "device") has its own home, chosen by --home, XCLOUD_HOME, or the XDG config
 * folder. credentials.json holds the master key in clear for this device, so it is written
 * atomically with mode 0600 in a 0700 folder, like an SSH key.
 */
import envPaths from 'env-paths'
import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises'
import path from 'node:path'
import { XError } from '../../shared/errors.js'

export interface Credentials {
  v: 1
  bridge: string
  email: string
  userId: string
  session: string
  /** base64url 32 bytes. */
  masterKey: string
}

export function resolveHome(explicit?: string): string {
  const dir = explicit ?? process.env.XCLOUD_HOME ?? envPaths('xcloud', { suffix: '' }).config
  return path.resolve(dir)
}

const CREDENTIALS = 'credentials.json'

export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, data, { mode })
  const fh = await open(tmp, 'r')
  try { await fh.sync() } finally { await fh.close() }
  await rename(tmp, file)
}

export async function saveCredentials(home: string, c: Credentials): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 })
  await writeFileAtomic(path.join(home, CREDENTIALS), JSON.stringify(c, null, 2) + '\n')
}

export async function loadCredentials(home: string): Promise<Credentials> {
  let text: string
  try {
    text = await readFile(path.join(home, CREDENTIALS), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new XError('XC_NOT_LOGGED_IN', `not logged in (no ${CREDENTIALS} in ${home}): run \`xcloud login\``)
    throw err
  }
  let c: Credentials
  try { c = JSON.parse(text) as Credentials } catch { throw new XError('XC_CONFIG', `${path.join(home, CREDENTIALS)} is not valid JSON`) }
  const key = typeof c?.masterKey === 'string' ? Buffer.from(c.masterKey, 'base64url') : Buffer.alloc(0)
  if (c?.v !== 1 || typeof c.bridge !== 'string' || typeof c.session !== 'string' || key.length !== 32) {
    throw new XError('XC_CONFIG', `${path.join(home, CREDENTIALS)} is incomplete or of an unknown version`)
  }
  return c
}
