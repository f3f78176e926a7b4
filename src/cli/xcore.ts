#!/usr/bin/env -S node --initial-heap-size=128
/**
 * xcore: the host program's command line. Argument parsing and process concerns only (exit
 * codes, signals, output); the work lives in src/host/.
 *
 * Exit codes: 0 ok, 1 runtime error (`error XC_CODE: message` on stderr), 2 bad arguments.
 */
import { STOP_WITH_PARENT_FLAG, parseIntOption, stopWithParent } from './common.js'
import { Command, CommanderError, Option } from 'commander'
import { XError, toXError } from '../shared/errors.js'
import { DEFAULT_DASHBOARD, parseDashboardAddress } from '../host/dashboard/address.js'
import { parseSchedule } from '../shared/schedule.js'
import { formatBytes, parseDuration, parseListen, parseRate, parseSize } from '../shared/units.js'

// fsync and file I/O run on libuv's thread pool; the default 4 threads would let a burst of
// fsyncs delay reads of other shards. Must be set before the pool is first used.
process.env.UV_THREADPOOL_SIZE ??= '16'

class UsageError extends Error {}

function usage<T>(parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

/** `--max-…-rate RATE|none`: none lifts the limit. */
function rateOption(text: string | undefined, what: string): number | null | undefined {
  if (text === undefined) return undefined
  return text.trim().toLowerCase() === 'none' ? null : usage(() => parseRate(text, what))
}

const SCHEDULE_HELP = 'online hours, UTC, e.g. "08:00-20:00" or "22:00-06:00,12:00-13:00"'

const program = new Command()
  .name('xcore')
  .description('X Cloud host: rent out disk and bandwidth by storing encrypted shards')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })

program
  .command('init')
  .description('create a host data folder, keys and certificate, and pin the bridge key')
  .requiredOption('--data <dir>', 'host data folder')
  .requiredOption('--bridge <url>', 'bridge URL, e.g. https://bridge.example')
  .requiredOption('--capacity <size>', 'disk space to offer, e.g. 500GB')
  .option('--listen <host:port>', 'address to serve on', '127.0.0.1:0')
  .option('--region <region>', 'region label used in placement', 'default')
  .option('--max-upload-rate <rate>', 'limit on bytes sent (serving shards), e.g. 16MB/s')
  .option('--max-download-rate <rate>', 'limit on bytes received (storing shards), e.g. 16MB/s')
  .option('--schedule <hours>', `${SCHEDULE_HELP} (default: always)`)
  .action(async (o: { data: string; bridge: string; capacity: string; listen: string; region: string; maxUploadRate?: string; maxDownloadRate?: string; schedule?: string }) => {
    const capacity = usage(() => parseSize(o.capacity, 'capacity'))
    usage(() => parseListen(o.listen))
    const maxUploadRate = o.maxUploadRate === undefined ? null : usage(() => parseRate(o.maxUploadRate!, 'upload rate'))
    const maxDownloadRate = o.maxDownloadRate === undefined ? null : usage(() => parseRate(o.maxDownloadRate!, 'download rate'))
    if (o.schedule !== undefined) usage(() => parseSchedule(o.schedule!))
    if (!/^https?:\/\/[^/]/.test(o.bridge)) throw new UsageError(`invalid bridge URL "${o.bridge}" (expected http(s)://HOST[:PORT])`)
    const { initHost } = await import('../host/init.js')
    const res = await initHost({ dataDir: o.data, bridge: o.bridge, capacity, listen: o.listen, region: o.region, maxUploadRate, maxDownloadRate, schedule: o.schedule ?? null })
    process.stdout.write(`${res.hostId}\n`)
  })

program
  .command('serve')
  .description('serve shards over HTTPS, report to the bridge, and show a local web dashboard')
  .requiredOption('--data <dir>', 'host data folder')
  .option('--heartbeat <duration>', 'heartbeat interval, e.g. 30s (default: the bridge\'s hint, else 30s)')
  .option('--dashboard <host:port|off>', 'where to serve the web dashboard: a loopback address only (127.0.0.1, [::1], localhost; port 0 picks a free one), or off', DEFAULT_DASHBOARD)
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'))
  .addOption(new Option(STOP_WITH_PARENT_FLAG, 'stop when that process ends').argParser(parseIntOption('--stop-with-parent')).hideHelp())
  .addHelpText('after', `
Output: the first line is \`listening <url>\` (the shard server), the second \`dashboard <url>\`
(or \`dashboard off\`); both URLs are also in DATA/url and DATA/dashboard-url while it runs.
The dashboard shows status, uptime, speeds, earnings, capacity used, shards and a traffic chart;
it answers only on this machine.`)
  .action(async (o: { data: string; heartbeat?: string; dashboard: string; logLevel: string; stopWithParent?: number }) => {
    const heartbeatMs = o.heartbeat === undefined ? undefined : usage(() => parseDuration(o.heartbeat!, 'heartbeat interval'))
    if (heartbeatMs !== undefined && heartbeatMs < 100) throw new UsageError('heartbeat interval must be at least 100ms')
    usage(() => parseDashboardAddress(o.dashboard))
    const { startHost } = await import('../host/server.js')
    const host = await startHost({ dataDir: o.data, logLevel: o.logLevel, dashboard: o.dashboard, ...(heartbeatMs !== undefined ? { heartbeatMs } : {}) })
    process.stdout.write(`listening ${host.url}\ndashboard ${host.dashboardUrl ?? 'off'}\n`)
    let stopping = false
    const stop = (): void => {
      if (stopping) return
      stopping = true
      host.close().then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`error during shutdown: ${String(err)}\n`)
          process.exit(1)
        },
      )
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    stopWithParent(o.stopWithParent, stop)
  })

program
  .command('status')
  .description('show this host: what it holds, whether it runs (and its dashboard URL), its speeds, and what the bridge says (state, earnings)')
  .requiredOption('--data <dir>', 'host data folder')
  .option('--json', 'print JSON (the object the web dashboard shows, from its GET /api/status)')
  .action(async (o: { data: string; json?: boolean }) => {
    const [{ readHostStatus }, { statusLines }] = await Promise.all([import('../host/status.js'), import('../host/status-text.js')])
    const s = await readHostStatus(o.data)
    process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : statusLines(s).join('\n') + '\n')
  })

program
  .command('config')
  .description('show or change what this host offers; a running host applies changes at once and tells the bridge')
  .requiredOption('--data <dir>', 'host data folder')
  .option('--capacity <size>', 'disk space to offer, e.g. 500GB')
  .option('--schedule <hours>', SCHEDULE_HELP)
  .option('--no-schedule', 'online at all hours')
  .option('--max-upload-rate <rate>', 'limit on bytes sent (serving shards), e.g. 16MB/s, or none')
  .option('--max-download-rate <rate>', 'limit on bytes received (storing shards), e.g. 16MB/s, or none')
  .option('--json', 'print JSON')
  .action(async (o: { data: string; capacity?: string; schedule?: string | boolean; maxUploadRate?: string; maxDownloadRate?: string; json?: boolean }) => {
    if (typeof o.schedule === 'string') usage(() => parseSchedule(o.schedule as string))
    const change = {
      ...(o.capacity !== undefined ? { capacity: usage(() => parseSize(o.capacity!, 'capacity')) } : {}),
      ...(o.schedule === false ? { schedule: null } : typeof o.schedule === 'string' ? { schedule: o.schedule } : {}),
      ...(o.maxUploadRate !== undefined ? { maxUploadRate: rateOption(o.maxUploadRate, 'upload rate') } : {}),
      ...(o.maxDownloadRate !== undefined ? { maxDownloadRate: rateOption(o.maxDownloadRate, 'download rate') } : {}),
    }
    const [{ updateSettings }, { settingsLines }, { runningHost }] = await Promise.all([import('../host/settings.js'), import('../host/status-text.js'), import('../host/status.js')])
    const running = await runningHost(o.data)
    const res = await updateSettings(o.data, change)
    process.stdout.write(o.json ? JSON.stringify(res.settings, null, 2) + '\n' : settingsLines(res.settings).join('\n') + '\n')
    if (res.overCapacityBy !== null) {
      process.stderr.write(`note: the host already stores ${formatBytes(res.overCapacityBy)} more than this capacity; those shards stay, no new ones are accepted until there is room\n`)
    }
    if (res.changed && running) process.stderr.write(`the running host (pid ${running.pid}) applies this now and tells the bridge\n`)
  })

program
  .command('exit')
  .description('leave the network: the bridge moves every shard elsewhere; keep `xcore serve` running until it says exited')
  .requiredOption('--data <dir>', 'host data folder')
  .option('--timeout <duration>', 'how long to wait for the bridge to finish, e.g. 30m', '24h')
  .option('--no-wait', 'start the exit and return at once')
  .option('--json', 'print the final state as JSON (progress goes to stderr)')
  .action(async (o: { data: string; timeout: string; wait: boolean; json?: boolean }) => {
    const timeoutMs = usage(() => parseDuration(o.timeout, 'timeout'))
    const [{ exitHost }, { runningHost }, { exitProgressLine, exitResultLine }] = await Promise.all([import('../host/exit.js'), import('../host/status.js'), import('../host/status-text.js')])
    const progressOut = o.json ? process.stderr : process.stdout
    if (!(await runningHost(o.data))) {
      process.stderr.write('warning: this host is not running; other hosts copy its shards from it, so start `xcore serve` until the exit finishes\n')
    }
    let last = ''
    let lastAt = 0
    const self = await exitHost({
      dataDir: o.data,
      timeoutMs,
      wait: o.wait,
      onProgress: (s) => {
        const line = exitProgressLine(s)
        // One line per change, and a reminder each minute that it is still going.
        if (line === last && Date.now() - lastAt < 60_000) return
        last = line
        lastAt = Date.now()
        progressOut.write(line + '\n')
      },
      onRetry: (err) => process.stderr.write(`bridge not answering (${err.code}); still waiting\n`),
    })
    process.stdout.write(o.json ? JSON.stringify(self, null, 2) + '\n' : exitResultLine(self, o.data) + '\n')
  })

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message (or the help text).
      process.exit(err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2)
    }
    if (err instanceof UsageError || (err instanceof XError && err.code === 'XC_USAGE')) {
      process.stderr.write(`error XC_USAGE: ${err.message}\n`)
      process.exit(2)
    }
    const x = toXError(err)
    process.stderr.write(`error ${x.code}: ${x.message}\n`)
    process.exit(1)
  }
}

void main()
