#!/usr/bin/env -S node --initial-heap-size=64
/** `xcloud`: the drive's command line (argument parsing only; the work is in src/client). */
import { Command, CommanderError, Option } from 'commander'
import { stat } from 'node:fs/promises'
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
  .option('--home <dir>', 'client state folder (default: $XCLOUD_HOME or the XDG config folder)')
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
  .description('mount the drive at MOUNTPOINT and keep it in sync (foreground; Ctrl-C unmounts)')
  .argument('<mountpoint>', 'an empty folder')
  .option('--cache-shards <n>', 'plaintext shards (2 MiB each) kept in memory for reads', parseIntOption('--cache-shards'), 24)
  .option('--drain <seconds>', 'how long stopping may push pending uploads before unmounting', parseIntOption('--drain'), 30)
  .option('--write-back-delay <ms>', 'how long a closed file waits before its upload starts', parseIntOption('--write-back-delay'), 2000)
  .addOption(new Option(STOP_WITH_PARENT_FLAG, 'stop when that process ends').argParser(parseIntOption('--stop-with-parent')).hideHelp())
  .action(action(async (mountpoint: string, o: { cacheShards: number; drain: number; writeBackDelay: number; stopWithParent?: number }) => {
    if (o.cacheShards < 4 || o.cacheShards > 4096) throw new XError('XC_USAGE', '--cache-shards must be 4..4096')
    if (o.writeBackDelay < 0 || o.writeBackDelay > 3_600_000) throw new XError('XC_USAGE', '--write-back-delay must be 0..3600000 ms')
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
    const log = (msg: string, err?: unknown): void => {
      process.stderr.write(`${new Date().toISOString()} ${msg}${err ? `: ${err instanceof Error ? err.message : String(err)}` : ''}\n`)
    }
    const daemon = await Daemon.start({ home: home(), mountpoint, cacheShards: o.cacheShards, drainMs: o.drain * 1000, writeBackDelayMs: o.writeBackDelay, log })
    process.stdout.write(`mounted ${daemon.opts.mountpoint}\n`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
      stopWithParent(o.stopWithParent, resolve)
    })
    await daemon.stop()
    process.stdout.write('unmounted\n')
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
    const running = await up({ ...o, log: (line) => process.stdout.write(line + '\n') })
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
