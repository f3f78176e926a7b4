/**
 * `xcloud up`: a whole X Cloud on this machine for trying it out. A bridge and N hosts under DIR
 * (default ./.xcloud), a local account whose password and recovery phrase are kept in DIR (0600),
 * and the client state in DIR/client. Running it again brings back the same network and files:
 * the bridge keeps its port (hosts know it by URL) and every host its data folder.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { loginAccount, registerAccount } from '../client/session/account.js'
import { saveCredentials } from '../client/session/home.js'
import { writeFileAtomic } from '../client/session/home.js'
import { LocalNet } from './localnet.js'

export interface UpOptions {
  dir: string
  hosts: number
  mount: string
  log: (line: string) => void
}

export interface Up {
  net: LocalNet
  home: string
  close(): Promise<void>
}

const EMAIL = 'me@xcloud.local'

export async function up(opts: UpOptions): Promise<Up> {
  const dir = path.resolve(opts.dir)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  let bridgeListen = '127.0.0.1:0'
  const urlFile = path.join(dir, 'bridge', 'url')
  if (existsSync(urlFile)) bridgeListen = new URL((await readFile(urlFile, 'utf8')).trim()).host
  const net = await LocalNet.start({ dir, hosts: opts.hosts, bridgeListen })
  const home = path.join(dir, 'client')
  try {
    const passwordFile = path.join(dir, 'password')
    if (!existsSync(path.join(home, 'credentials.json'))) {
      const password = existsSync(passwordFile) ? (await readFile(passwordFile, 'utf8')).trim() : randomBytes(24).toString('base64url')
      await writeFileAtomic(passwordFile, password + '\n')
      const { phrase } = await registerAccount(net.bridgeUrl, EMAIL, password)
      await writeFileAtomic(path.join(dir, 'recovery-phrase.txt'), phrase + '\n')
      await saveCredentials(home, await loginAccount(net.bridgeUrl, EMAIL, password))
      opts.log(`created account ${EMAIL}; recovery phrase (also in ${path.join(dir, 'recovery-phrase.txt')}):`)
      opts.log(`  ${phrase}`)
    }
  } catch (err) {
    await net.close()
    throw err
  }
  opts.log(`bridge   ${net.bridgeUrl}  (data ${net.bridgeDir})`)
  for (const h of net.hosts) opts.log(`host ${h.index}   ${h.url}  (data ${h.dir})`)
  opts.log(`client   --home ${home}`)
  opts.log(`drive    ${path.resolve(opts.mount)}: mounting is not part of this build yet; use put/get/ls`)
  opts.log(`try:     node dist/src/cli/xcloud.js --home ${home} put README.md /README.md`)
  return { net, home, close: () => net.close() }
}
