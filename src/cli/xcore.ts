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
  .action(async (o: { data: string; bridge: string; capacity: string; listen: string; region: string; maxUploadRate?: string; maxDownloadRate?: string }) => {
    const capacity = usage(() => parseSize(o.capacity, 'capacity'))
    usage(() => parseListen(o.listen))
    const maxUploadRate = o.maxUploadRate === undefined ? null : usage(() => parseRate(o.maxUploadRate!, 'upload rate'))
    const maxDownloadRate = o.maxDownloadRate === undefined ? null : usage(() => parseRate(o.maxDownloadRate!, 'download rate'))
    if (!/^https?:\/\/[^/]/.test(o.bridge)) throw new UsageError(`invalid bridge URL "${o.bridge}" (expected http(s)://HOST[:PORT])`)
    const { initHost } = await import('../host/init.js')
    const res = await initHost({ dataDir: o.data, bridge: o.bridge, capacity, listen: o.listen, region: o.region, maxUploadRate, maxDownloadRate })
    process.stdout.write(`${res.hostId}\n`)
  })

program
  .command('serve')
  .description('serve shards over HTTPS and report to the bridge')
  .requiredOption('--data <dir>', 'host data folder')
  .option('--heartbeat <duration>', 'heartbeat interval, e.g. 30s (default: the bridge\'s hint, else 30s)')
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'))
  .addOption(new Option(STOP_WITH_PARENT_FLAG, 'stop when that process ends').argParser(parseIntOption('--stop-with-parent')).hideHelp())
  .action(async (o: { data: string; heartbeat?: string; logLevel: string; stopWithParent?: number }) => {
    const heartbeatMs = o.heartbeat === undefined ? undefined : usage(() => parseDuration(o.heartbeat!, 'heartbeat interval'))
    if (heartbeatMs !== undefined && heartbeatMs < 100) throw new UsageError('heartbeat interval must be at least 100ms')
    const { startHost } = await import('../host/server.js')
    const host = await startHost({ dataDir: o.data, logLevel: o.logLevel, ...(heartbeatMs !== undefined ? { heartbeatMs } : {}) })
    process.stdout.write(`listening ${host.url}\n`)
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
  .description('show what this host folder holds')
  .requiredOption('--data <dir>', 'host data folder')
  .option('--json', 'print JSON')
  .action(async (o: { data: string; json?: boolean }) => {
    const { readHostStatus } = await import('../host/status.js')
    const s = await readHostStatus(o.data)
    if (o.json) {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n')
      return
    }
    const pct = s.capacity > 0 ? ` (${((100 * s.used) / s.capacity).toFixed(1)}%)` : ''
    process.stdout.write(
      [
        `host      ${s.hostId}`,
        `url       ${s.url ?? '(not running)'}`,
        `bridge    ${s.bridge}`,
        `region    ${s.region}`,
        `capacity  ${formatBytes(s.capacity)}`,
        `used      ${formatBytes(s.used)}${pct}`,
        `shards    ${s.shards}`,
      ].join('\n') + '\n',
    )
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
