#!/usr/bin/env -S node --max-semi-space-size=4
/** `xcloud`: the drive's command line (argument parsing only; the work is in src/client). */
import { Command, CommanderError, Option } from 'commander'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { LOG_LEVELS } from '../client/session/config.js'
import { XCloudClient } from '../client/client.js'
import { loginAccount, registerAccount } from '../client/session/account.js'
import { resolveHome, saveCredentials } from '../client/session/home.js'
import { XError } from '../shared/errors.js'
import { formatBytes } from '../shared/units.js'
import { EXIT_USAGE, STOP_WITH_PARENT_FLAG, action, parseIntOption, progress, readSecret, stopWithParent } from './common.js'

const program = new Command()
program
  .name('xcloud')
  .description('X Cloud: an encrypted, decentralized cloud drive')
  .option('--home <dir>', 'client state folder (default: $XCLOUD_HOME or the XDG config folder, ~/.config/xcloud)')
  .addOption(new Option('--log-level <level>', 'log level of the mount daemon (default: setting logLevel, info)').choices(LOG_LEVELS))
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(str) })

const home = (): string => resolveHome(program.opts<{ home?: string }>().home)
/** Run `fn` with this home's client, closing its connections afterwards. */
async function withClient(fn: (c: XCloudClient) => Promise<void>): Promise<void> {
  const c = await XCloudClient.fromHome(home())
  try {
    await fn(c)
  } finally {
    c.close()
  }
}

program.command('register')
  .description('create an account (password from XCLOUD_PASSWORD or stdin) and log this device in')
  .requiredOption('--bridge <url>', 'bridge URL')
  .requiredOption('--email <email>', 'account email')
  .addOption(new Option('--kdf-n <n>', 'scrypt cost N (power of two; lower only for tests)').argParser(parseIntOption('--kdf-n')).hideHelp())
  .action(action(async (o: { bridge: string; email: string; kdfN?: number }) => {
    const password = await readSecret('XCLOUD_PASSWORD', 'Password: ')
    const { phrase } = await registerAccount(o.bridge, o.email, password, { kdfN: o.kdfN })
    const creds = await loginAccount(o.bridge, o.email, password)
    await saveCredentials(home(), creds)
    process.stdout.write(`registered ${creds.email}\nrecovery phrase (write it down; it is shown only once):\n${phrase}\n`)
  }))

program.command('login')
  .description('log this device in (password from XCLOUD_PASSWORD or stdin)')
  .requiredOption('--bridge <url>', 'bridge URL')
  .requiredOption('--email <email>', 'account email')
  .action(action(async (o: { bridge: string; email: string }) => {
    const password = await readSecret('XCLOUD_PASSWORD', 'Password: ')
    const creds = await loginAccount(o.bridge, o.email, password)
    await saveCredentials(home(), creds)
    process.stdout.write(`logged in as ${creds.email}\n`)
  }))

program.command('put')
  .description('upload a local file')
  .argument('<local>', 'local file')
  .argument('<remote>', 'remote path (or existing remote folder)')
  .action(action(async (local: string, remote: string) => {
    await withClient(async (c) => {
      const { size } = await stat(local).catch(() => ({ size: 0 }))
      const bar = progress(size, 'put')
      const res = await c.put(local, remote, { onProgress: (n) => bar.update(n) })
      bar.stop()
      process.stdout.write(`${remote} ${formatBytes(res.node.size)} version ${res.versionId}\n`)
    })
  }))

program.command('get')
  .description('download a remote file')
  .argument('<remote>', 'remote path')
  .argument('<local>', 'local file (or existing local folder)')
  .action(action(async (remote: string, local: string) => {
    await withClient(async (c) => {
      const node = await c.node(remote)
      const bar = progress(node.size, 'get')
      const res = await c.get(remote, local, { onProgress: (n) => bar.update(n) })
      bar.stop()
      process.stdout.write(`${res.path} ${formatBytes(res.bytes)}\n`)
    })
  }))

program.command('ls')
  .description('list a remote folder')
  .argument('[remote]', 'remote path', '/')
  .option('--json', 'print JSON')
  .action(action(async (remote: string, o: { json?: boolean }) => {
    await withClient(async (c) => {
      const entries = await c.tree.list(remote)
      if (o.json) { process.stdout.write(JSON.stringify(entries, null, 2) + '\n'); return }
      for (const e of entries) {
        const kind = e.kind === 'dir' ? 'd' : e.kind === 'symlink' ? 'l' : '-'
        process.stdout.write(`${kind} ${String(e.size).padStart(12)} ${new Date(e.mtime).toISOString()} ${e.name}\n`)
      }
    })
  }))

program.command('mkdir')
  .description('create a remote folder')
  .argument('<remote>', 'remote path')
  .option('-p, --parents', 'create missing parents; no error if it exists')
  .action(action(async (remote: string, o: { parents?: boolean }) => {
    await withClient(async (c) => { await c.tree.mkdir(remote, o) })
  }))

program.command('mv')
  .description('move or rename (atomically replaces an existing file)')
  .argument('<src>', 'remote source')
  .argument('<dst>', 'remote destination (or existing folder)')
  .action(action(async (src: string, dst: string) => {
    await withClient(async (c) => { await c.tree.move(src, dst) })
  }))

program.command('rm')
  .description('remove a remote file or folder')
  .argument('<remote>', 'remote path')
  .option('-r, --recursive', 'remove folders and their content')
  .action(action(async (remote: string, o: { recursive?: boolean }) => {
    await withClient(async (c) => { await c.tree.remove(remote, o) })
  }))

program.command('mount')
  .description('mount the drive and keep it in sync (foreground; Ctrl-C pushes pending uploads, then unmounts)')
  .argument('[mountpoint]', 'an empty folder (default: the mountpoint setting, ~/XCloud)')
  .option('--cache-shards <n>', 'plaintext shards (2 MiB each) kept in memory for reads (default: setting cacheShards, 24)', parseIntOption('--cache-shards'))
  .option('--drain <seconds>', 'how long stopping may push pending uploads before unmounting (default: setting drainSeconds, 30)', parseIntOption('--drain'))
  .option('--write-back-delay <ms>', 'how long a closed file waits before its upload starts (default: setting writeBackDelayMs, 2000)', parseIntOption('--write-back-delay'))
  .addOption(new Option(STOP_WITH_PARENT_FLAG, 'stop when that process ends').argParser(parseIntOption('--stop-with-parent')).hideHelp())
  .action(action(async (mountArg: string | undefined, o: { cacheShards?: number; drain?: number; writeBackDelay?: number; stopWithParent?: number }) => {
    const { loadConfig, parseConfigValue } = await import('../client/session/config.js')
    const { config } = await loadConfig(home())
    // Flags beat the settings file; both go through the same checks.
    const flag = (key: 'cacheShards' | 'drainSeconds' | 'writeBackDelayMs', name: string, v: number | undefined): number => {
      if (v === undefined) return config[key]
      try { return parseConfigValue(key, v, name) as number } catch (err) { throw new XError('XC_USAGE', (err as Error).message) }
    }
    const cacheShards = flag('cacheShards', '--cache-shards', o.cacheShards)
    const drainSeconds = flag('drainSeconds', '--drain', o.drain)
    const writeBackDelayMs = flag('writeBackDelayMs', '--write-back-delay', o.writeBackDelay)
    const mountpoint = mountArg ?? config.mountpoint
    // Before fuse-native loads: a missing libfuse gets the install command, not a linker error.
    await (await import('../client/fuse/preflight.js')).requireFuse()
    const { Daemon, runningDaemon } = await import('../client/daemon/daemon.js')
    let other = runningDaemon(home())
    // A daemon that was just killed takes a moment to go away.
    for (let i = 0; other && i < 30; i++) {
      await new Promise((r) => setTimeout(r, 100))
      other = runningDaemon(home())
    }
    if (other) throw new XError('XC_USAGE', `this home is already mounted at ${other.mountpoint} (pid ${other.pid})`)
    const { default: pino } = await import('pino')
    const logger = pino({ level: program.opts<{ logLevel?: string }>().logLevel ?? config.logLevel, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }))
    const log = (msg: string, err?: unknown): void => {
      if (err === undefined) logger.warn(msg)
      else logger.warn({ err: err instanceof Error ? { message: err.message, code: (err as { code?: unknown }).code } : String(err) }, msg)
    }
    const daemon = await Daemon.start({ home: home(), mountpoint, cacheShards, drainMs: drainSeconds * 1000, writeBackDelayMs, attrCache: config.attrCache !== 'off', log })
    logger.info({ mountpoint: daemon.opts.mountpoint, home: home() }, 'mounted')
    process.stdout.write(`mounted ${daemon.opts.mountpoint}\n`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
      stopWithParent(o.stopWithParent, resolve)
    })
    logger.info('stopping: pushing pending uploads, then unmounting')
    await daemon.stop()
    logger.info('unmounted')
    process.stdout.write('unmounted\n')
  }))

const configCmd = program.command('config')
  .description('show the settings of this home (HOME/config.json) with where each value comes from')
  .option('--json', 'print JSON')
  .action(action(async (o: { json?: boolean }) => {
    const { CONFIG_KEYS, CONFIG_FILE, loadConfig } = await import('../client/session/config.js')
    const { config, fromFile } = await loadConfig(home())
    const rows = Object.entries(CONFIG_KEYS).map(([key, spec]) => ({
      key, value: config[key as keyof typeof config], source: key in fromFile ? 'file' : 'default', doc: spec.doc,
    }))
    if (o.json) { process.stdout.write(JSON.stringify({ file: path.join(home(), CONFIG_FILE), settings: rows }, null, 2) + '\n'); return }
    process.stdout.write(`# ${path.join(home(), CONFIG_FILE)}\n`)
    for (const r of rows) process.stdout.write(`${r.key.padEnd(17)} ${String(r.value).padEnd(24)} (${r.source})  ${r.doc}\n`)
  }))
configCmd.command('set')
  .description('set one setting (see `xcloud config` for the keys)')
  .argument('<key>', 'setting name')
  .argument('<value>', 'new value')
  .action(action(async (key: string, value: string) => {
    const { parseConfigValue, updateConfigFile } = await import('../client/session/config.js')
    try { parseConfigValue(key, value, 'xcloud config set') } catch (err) { throw new XError('XC_USAGE', (err as Error).message) }
    const file = await updateConfigFile(home(), key, value)
    process.stdout.write(`${key} = ${String(file[key as keyof typeof file])}\n`)
  }))
configCmd.command('unset')
  .description('remove one setting from the file (its default applies again)')
  .argument('<key>', 'setting name')
  .action(action(async (key: string) => {
    const { isConfigKey, updateConfigFile } = await import('../client/session/config.js')
    if (!isConfigKey(key)) throw new XError('XC_USAGE', `unknown setting "${key}"; \`xcloud config\` lists them`)
    await updateConfigFile(home(), key, undefined)
    process.stdout.write(`${key} unset\n`)
  }))

program.command('unmount')
  .description('stop the daemon serving MOUNTPOINT (it pushes pending work first) and unmount it')
  .argument('<mountpoint>', 'the mount point')
  .action(action(async (mountpoint: string) => {
    const { runningDaemon } = await import('../client/daemon/daemon.js')
    const { unmount } = await import('../client/daemon/unmount.js')
    await unmount(mountpoint, runningDaemon(home()))
  }))

program.command('status')
  .description('pending uploads, transfers in flight, cache use and sync state of this home')
  .option('--json', 'machine-readable output')
  .action(action(async (o: { json?: boolean }) => {
    const { homeStatus, formatStatus } = await import('../client/daemon/status.js')
    const st = await homeStatus(home())
    process.stdout.write(o.json ? JSON.stringify(st, null, 2) + '\n' : formatStatus(st))
  }))

program.command('tree')
  .description('print the drive\'s tree as this device knows it (folders, files, sizes, times, versions)')
  .argument('[path]', 'folder or file', '/')
  .option('--json', 'JSON output (the default)')
  .action(action(async (p: string) => {
    const { localTree } = await import('../client/daemon/status.js')
    process.stdout.write(JSON.stringify(await localTree(home(), p), null, 2) + '\n')
  }))

program.command('up')
  .description('start a local bridge and hosts with your account (Ctrl-C stops everything)')
  .option('--hosts <n>', 'number of hosts', parseIntOption('--hosts'), 6)
  .option('--dir <dir>', 'data folder', './.xcloud')
  .option('--mount <dir>', 'mount point of the drive', './XCloud')
  .action(action(async (o: { hosts: number; dir: string; mount: string }) => {
    if (o.hosts < 1 || o.hosts > 64) throw new XError('XC_USAGE', '--hosts must be 1..64')
    const { up } = await import('../localnet/up.js')
    const logLevel = program.opts<{ logLevel?: string }>().logLevel
    const running = await up({ ...o, ...(logLevel ? { logLevel } : {}), log: (line) => process.stdout.write(line + '\n') })
    process.stdout.write('X Cloud is up. Press Ctrl-C to stop.\n')
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    process.stdout.write('stopping…\n')
    await running.close()
  }))

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE)
  throw err
}
