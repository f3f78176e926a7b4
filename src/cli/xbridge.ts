#!/usr/bin/env -S node --initial-heap-size=128
/**
 * `xbridge`: run the bridge (`serve`) and administer its data folder (`admin`). Argument parsing
 * only; the work is in src/bridge.
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_MIRRORS, MAX_MIRRORS } from '../shared/protocol.js'
import { isLoopback, parseDuration, parseListen } from '../shared/units.js'
import { addUser, ledgerOf, listHosts, listShards, networkStats, openAdminStore, setHostApproval, setUserRegions } from '../bridge/admin/admin.js'
import { loadBridgeConfig } from '../bridge/earnings/prices.js'
import { join } from 'node:path'
import { hostsTable, ledgerTable, shardsTable, statsText } from '../bridge/admin/format.js'
import {
  DEFAULT_AUDIT_INTERVAL_MS, DEFAULT_GC_GRACE_MS, DEFAULT_OFFLINE_AFTER_MS, DEFAULT_REPAIR_INTERVAL_MS, DEFAULT_REPAIRS_PER_ROUND, startBridge,
} from '../bridge/server.js'
import { action, EXIT_USAGE, fail, parseIntOption, readSecret, STOP_WITH_PARENT_FLAG, stopWithParent } from './common.js'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function usage(message: string): never {
  process.stderr.write(`error XC_USAGE: ${message}\n`)
  process.exit(EXIT_USAGE)
}

function intIn(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`${name} must be a whole number in ${min}..${max}`)
    return Number(v)
  }
}

function durationOf(flag: string, minMs = 0) {
  return (v: string): number => {
    let ms: number
    try {
      ms = parseDuration(v, flag)
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message)
    }
    if (ms < minMs) throw new InvalidArgumentError(`${flag} must be at least ${minMs}ms`)
    return ms
  }
}
const duration = durationOf('--offline-after', 100)

function logLevel(v: string): string {
  if (!LOG_LEVELS.includes(v)) throw new InvalidArgumentError(`log level is one of ${LOG_LEVELS.join(', ')}`)
  return v
}

function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text())
}

const program = new Command('xbridge')
  .description('X Cloud bridge: the coordinator of users, hosts, placement and the encrypted tree')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE))

program.command('serve')
  .description('run the bridge server')
  .requiredOption('--data <dir>', 'data folder (created if needed): bridge.db, keys.json, url')
  .option('--listen <host:port>', 'address to listen on', '127.0.0.1:0')
  .option('--tls-cert <file>', 'PEM certificate (required unless listening on loopback)')
  .option('--tls-key <file>', 'PEM private key for --tls-cert')
  .option('--mirrors <n>', `mirrors per shard (1..${MAX_MIRRORS})`, intIn('--mirrors', 1, MAX_MIRRORS), DEFAULT_MIRRORS)
  .option('--offline-after <duration>', 'a host without heartbeat for this long is offline', duration, DEFAULT_OFFLINE_AFTER_MS)
  .option('--repair-interval <duration>', 'how often the checker and repairer run (default 60s)', durationOf('--repair-interval', 100), DEFAULT_REPAIR_INTERVAL_MS)
  .option('--audit-interval <duration>', 'how often every host is audited (default 60s)', durationOf('--audit-interval', 100), DEFAULT_AUDIT_INTERVAL_MS)
  .option('--gc-grace <duration>', 'how long unreferenced shards stay on hosts before deletion (default 24h)', durationOf('--gc-grace'), DEFAULT_GC_GRACE_MS)
  .option('--require-approval', 'give data only to hosts an admin approved (xbridge admin hosts approve ID)')
  .option('--config <file>', 'bridge config (prices); default DATA/config.json if it exists')
  .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, logLevel, 'warn')
  .addOption(new Option(STOP_WITH_PARENT_FLAG, 'stop when that process ends').argParser(parseIntOption('--stop-with-parent')).hideHelp())
  .action(action(async (o: {
    data: string; listen: string; tlsCert?: string; tlsKey?: string; mirrors: number; offlineAfter: number; logLevel: string; stopWithParent?: number
    repairInterval: number; auditInterval: number; gcGrace: number; requireApproval?: boolean; config?: string
  }) => {
    let listen: { host: string; port: number }
    try {
      listen = parseListen(o.listen)
    } catch (err) {
      usage((err as Error).message)
    }
    if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) usage('--tls-cert and --tls-key go together')
    const tls = o.tlsCert !== undefined && o.tlsKey !== undefined ? { cert: o.tlsCert, key: o.tlsKey } : undefined
    if (!tls && !isLoopback(listen.host)) {
      usage(`refusing plain HTTP on ${listen.host}, which is not a loopback address: pass --tls-cert and --tls-key (sessions and auth keys must not cross a network unencrypted)`)
    }
    const bridge = await startBridge({
      dataDir: o.data, listen, mirrors: o.mirrors, offlineAfterMs: o.offlineAfter, logLevel: o.logLevel, ...(tls ? { tls } : {}),
      repairIntervalMs: o.repairInterval, auditIntervalMs: o.auditInterval, gcGraceMs: o.gcGrace, requireApproval: !!o.requireApproval,
      ...(o.config !== undefined ? { configFile: o.config } : {}),
    })
    process.stdout.write(`listening ${bridge.url}\n`)
    const stop = (): void => {
      bridge.close().then(() => process.exit(0), (err: unknown) => fail(err))
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    stopWithParent(o.stopWithParent, stop)
  }))

const admin = program.command('admin')
  .description('administer a bridge data folder (works while serve runs)')
  .requiredOption('--data <dir>', 'the bridge data folder')
  .option('--offline-after <duration>', 'a host without heartbeat for this long is offline', duration, DEFAULT_OFFLINE_AFTER_MS)

type AdminOpts = { data: string; offlineAfter: number; json?: boolean; kdfN?: number }

function adminOpts(cmd: Command): AdminOpts {
  return cmd.optsWithGlobals<AdminOpts>()
}

async function withStore<T>(dataDir: string, fn: (store: ReturnType<typeof openAdminStore>) => Promise<T> | T): Promise<T> {
  const store = openAdminStore(dataDir)
  try {
    return await fn(store)
  } finally {
    store.close()
  }
}

const users = admin.command('users').description('user accounts')
users.command('add <email>')
  .description('create an account (password: first line of stdin, or XBRIDGE_PASSWORD); prints the recovery phrase once')
  .option('--kdf-n <n>', 'scrypt cost N (a power of two)', intIn('--kdf-n', 2, 2 ** 30))
  .action(action(async (email: string, _o: unknown, cmd: Command) => {
    const o = adminOpts(cmd)
    const password = await readSecret('XBRIDGE_PASSWORD', 'Password: ')
    const { userId, phrase } = await withStore(o.data, (store) => addUser(store, email, password, o.kdfN))
    process.stdout.write(`created user ${userId} <${email.trim().toLowerCase()}>\n`)
    process.stdout.write('recovery phrase (write it down now; it is not shown again):\n')
    process.stdout.write(`${phrase}\n`)
  }))

const hosts = admin.command('hosts').description('the host registry')
hosts.command('list')
  .description('list hosts')
  .option('--json', 'machine-readable output')
  .action(action(async (_o: unknown, cmd: Command) => {
    const o = adminOpts(cmd)
    const now = Date.now()
    const rows = await withStore(o.data, (store) => listHosts(store, now, o.offlineAfter))
    print(!!o.json, rows, () => hostsTable(rows, now))
  }))

for (const [verb, fields, what] of [
  ['approve', { approved: true }, 'let this host receive data (with serve --require-approval)'],
  ['unapprove', { approved: false }, 'withdraw approval: no new data'],
  ['ban', { banned: true }, 'suspend this host: no new data, its shards are repaired elsewhere'],
  ['unban', { banned: false }, 'lift a ban'],
] as const) {
  hosts.command(`${verb} <id>`)
    .description(`${what} (id or unique prefix)`)
    .option('--json', 'machine-readable output')
    .action(action(async (id: string, _o: unknown, cmd: Command) => {
      const o = adminOpts(cmd)
      const h = await withStore(o.data, (store) => setHostApproval(store, id, fields))
      print(!!o.json, { id: h.id, approved: h.approved, banned: h.banned }, () => `host ${h.id}: approved=${h.approved} banned=${h.banned}\n`)
    }))
}

users.command('set-regions <email> <regions...>')
  .description('keep this account\'s new shards (and their repairs) on hosts of these regions (e.g. "eu" or "eu us"); "any" lifts the limit')
  .option('--json', 'machine-readable output')
  .action(action(async (email: string, regions: string[], _o: unknown, cmd: Command) => {
    const o = adminOpts(cmd)
    const r = await withStore(o.data, (store) => setUserRegions(store, email, regions))
    print(!!o.json, r, () => `user ${r.userId}: regions ${r.regions === null ? 'any' : r.regions.join(', ')}\n`)
  }))

admin.command('ledger')
  .description('what hosts earned: the append-only ledger, per host')
  .option('--host <id>', 'one host (id or unique prefix)')
  .option('--config <file>', 'bridge config with the prices (default DATA/config.json)')
  .option('--json', 'machine-readable output (with every entry)')
  .action(action(async (_o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals<AdminOpts & { host?: string; config?: string }>()
    const { prices } = loadBridgeConfig(o.config ?? join(o.data, 'config.json'), o.config !== undefined)
    const now = Date.now()
    const rows = await withStore(o.data, (store) => ledgerOf(store, prices, now, o.offlineAfter, o.host))
    print(!!o.json, rows, () => ledgerTable(rows))
  }))

const shards = admin.command('shards').description('shards and their mirrors')
shards.command('list')
  .description('list shards with the hosts holding them')
  .option('--json', 'machine-readable output')
  .action(action(async (_o: unknown, cmd: Command) => {
    const o = adminOpts(cmd)
    const rows = await withStore(o.data, (store) => listShards(store))
    print(!!o.json, rows, () => shardsTable(rows))
  }))

admin.command('stats')
  .description('the network at a glance: hosts by state, capacity and use, shards under target, repair queue, audit pass rate')
  .option('--json', 'machine-readable output (the stable interface for scripts)')
  .action(action(async (_o: unknown, cmd: Command) => {
    const o = adminOpts(cmd)
    const stats = await withStore(o.data, (store) => networkStats(store, Date.now(), o.offlineAfter, DEFAULT_REPAIRS_PER_ROUND))
    print(!!o.json, stats, () => statsText(stats))
  }))

program.parseAsync(process.argv).catch((err: unknown) => fail(err))

