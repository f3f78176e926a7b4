/**
 * `xcloud up`: a whole X Cloud on this machine for trying it out. A bridge and N hosts under DIR
 * (default ./.xcloud), a local account whose password and recovery phrase are kept in DIR (0600),
 * and the client state in DIR/client. Running it again brings back the same network and files:
 * the bridge keeps its port (hosts know it by URL) and every host its data folder. The drive is
 * mounted at MOUNT (default ./XCloud) by an `xcloud mount` child process.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { loginAccount, registerAccount } from '../client/session/account.js'
import { saveCredentials } from '../client/session/home.js'
import { writeFileAtomic } from '../client/session/home.js'
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { requireFuse } from '../client/fuse/preflight.js'
import { XError } from '../shared/errors.js'
import { programArgv, programPath } from '../shared/node-flags.js'
import { LocalNet, stopProcess } from './localnet.js'

export interface UpOptions {
  dir: string
  hosts: number
  mount: string
  /** The mount daemon's log level (default warn). */
  logLevel?: string
  log: (line: string) => void
}

export interface Up {
  net: LocalNet
  home: string
  close(): Promise<void>
}

const EMAIL = 'me@xcloud.local'

export async function up(opts: UpOptions): Promise<Up> {
  // Fail before starting anything when the drive could not be mounted.
  await requireFuse()
  const dir = path.resolve(opts.dir)
  const { runningDaemon } = await import('../client/daemon/daemon.js')
  const other = runningDaemon(path.join(dir, 'client'))
  if (other) throw new XError('XC_USAGE', `X Cloud is already up from ${dir} (its drive is mounted at ${other.mountpoint} by pid ${other.pid}); stop that one first`)
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
  for (const h of net.hosts) {
    const dashboard = await readFile(path.join(h.dir, 'dashboard-url'), 'utf8').then((u) => `, dashboard ${u.trim()}`, () => '')
    opts.log(`host ${h.index}   ${h.url}  (data ${h.dir}${dashboard})`)
  }
  opts.log(`client   --home ${home}`)
  const mountpoint = path.resolve(opts.mount)
  mkdirSync(mountpoint, { recursive: true })
  // The daemon's info lines would bury the summary below; warnings and errors still show.
  const daemon = spawn(process.execPath, programArgv('xcloud', ['--home', home, '--log-level', opts.logLevel ?? 'warn', 'mount', mountpoint, '--stop-with-parent', String(process.pid)]), { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: daemon.stdout! }).once('line', (line) => (line.startsWith('mounted ') ? resolve() : reject(new XError('XC_MOUNT', line))))
      daemon.once('exit', (code) => reject(new XError('XC_MOUNT', `xcloud mount exited (${code}); see the messages above`)))
    })
  } catch (err) {
    await net.close()
    throw err
  }
  const cli = path.relative(process.cwd(), programPath('xcloud'))
  opts.log(`drive    ${mountpoint}  (xcloud mount, pid ${daemon.pid}; status: node ${cli.startsWith('..') ? programPath('xcloud') : cli} --home ${home} status)`)
  opts.log(`try:     cp README.md ${mountpoint}/ && ls -l ${mountpoint}`)
  return {
    net,
    home,
    close: async () => {
      // The daemon pushes what is queued before it unmounts; the network must outlive it.
      await stopProcess(daemon, 'SIGTERM', 60_000)
      await net.close()
    },
  }
}
