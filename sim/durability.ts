/**
 * `npm run sim:durability`: how often X Cloud loses a shard, and how much repair traffic it takes,
 * for 2, 3 and 4 mirrors under several churn rates. A discrete-event simulation (sim/engine.ts)
 * of thousands of hosts in simulated time that drives the bridge's real placement, checker and
 * repair decisions; no network, no sleeping. See docs/durability.md for the model and how to read
 * the table.
 *
 * Runs are spread over worker threads (--jobs); results do not depend on how many.
 */
import { availableParallelism } from 'node:os'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { Command, InvalidArgumentError, Option } from 'commander'
import { parseDuration, parseSize } from '../src/shared/units.js'
import { newWorld, simulate, type SimConfig, type SimResult } from './simulate.js'
import { resultTable, scenarioTable } from './report.js'
import { parseScenario, PRESETS, type Scenario } from './scenarios.js'

export interface DurabilityOptions {
  hosts: number
  shards: number
  shardSize: number
  days: number
  seed: number
  mirrors: number[]
  scenarios: Scenario[]
  repairIntervalMs: number
  offlineAfterMs: number
  budgetBytes: number
  jobs: number
}

const MiB = 1024 ** 2
const GiB = 1024 ** 3

export const DEFAULTS: DurabilityOptions = {
  hosts: 2000,
  shards: 10_000,
  shardSize: 2 * MiB,
  days: 365,
  seed: 1,
  mirrors: [2, 3, 4],
  scenarios: [...PRESETS],
  repairIntervalMs: 3_600_000,
  offlineAfterMs: 3_600_000,
  budgetBytes: 1 * GiB,
  jobs: Math.min(2, availableParallelism()),
}

export function configs(o: DurabilityOptions): SimConfig[] {
  return o.mirrors.flatMap((mirrors) => o.scenarios.map((scenario) => ({
    hosts: o.hosts, shards: o.shards, shardSize: o.shardSize, days: o.days, seed: o.seed, mirrors, scenario,
    repairIntervalMs: o.repairIntervalMs, offlineAfterMs: o.offlineAfterMs, budgetBytes: o.budgetBytes,
  })))
}

/** Run every configuration; results in the order of `configs`. */
export async function runAll(cfgs: readonly SimConfig[], jobs: number, progress?: (r: SimResult, seconds: number) => void): Promise<SimResult[]> {
  const results: SimResult[] = new Array(cfgs.length)
  if (jobs <= 1 || cfgs.length <= 1) {
    const world = newWorld()
    cfgs.forEach((cfg, i) => {
      const started = performance.now()
      results[i] = simulate(cfg, world)
      progress?.(results[i]!, (performance.now() - started) / 1000)
    })
    return results
  }
  // Longest first (work grows with mirrors and churn), so the last job to finish is a short one.
  const churn = (c: SimConfig) => c.scenario.failPerMonth + c.scenario.leavePerMonth + c.scenario.outagesPerMonth * 0.1
  const queue = cfgs.map((cfg, id) => ({ id, cfg })).sort((a, b) => b.cfg.mirrors * churn(b.cfg) - a.cfg.mirrors * churn(a.cfg))
  const workers = Array.from({ length: Math.min(jobs, cfgs.length) }, () => new Worker(new URL('./worker.js', import.meta.url)))
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      const next = (): void => {
        const job = queue.shift()
        if (!job) return resolve()
        w.postMessage(job)
      }
      w.on('message', (m: { id: number; result: SimResult; seconds: number }) => {
        results[m.id] = m.result
        progress?.(m.result, m.seconds)
        next()
      })
      w.on('error', reject)
      w.on('exit', (code) => { if (code !== 0) reject(new Error(`simulation worker exited with code ${code}`)) })
      next()
    })))
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
  return results
}

function int(name: string, min: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${name} must be a whole number >= ${min}`)
    return Number(v)
  }
}

function wrap<T>(fn: (v: string) => T) {
  return (v: string): T => {
    try {
      return fn(v)
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message)
    }
  }
}

const mirrorList = wrap((v) => v.split(',').map((x) => {
  if (!/^\d+$/.test(x.trim()) || Number(x) < 1 || Number(x) > 16) throw new Error('mirrors are whole numbers in 1..16, comma-separated')
  return Number(x)
}))

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v]
}

async function main(argv: string[]): Promise<void> {
  const program: Command = new Command('sim:durability')
    .description('simulate data loss and repair traffic under host churn, with the bridge\'s real placement and repair decisions')
    .option('--hosts <n>', 'hosts at the start', int('--hosts', 2), DEFAULTS.hosts)
    .option('--shards <n>', 'shards stored (a sample of the network\'s data)', int('--shards', 1), DEFAULTS.shards)
    .addOption(new Option('--shard-size <size>', 'bytes per shard').argParser(wrap((v) => parseSize(v, '--shard-size'))).default(DEFAULTS.shardSize, '2MiB'))
    .option('--days <n>', 'simulated days', int('--days', 1), DEFAULTS.days)
    .option('--seed <n>', 'random seed (same seed, same result)', int('--seed', 0), DEFAULTS.seed)
    .addOption(new Option('--mirrors <list>', 'mirror counts to compare').argParser(mirrorList).default(DEFAULTS.mirrors, '2,3,4'))
    .option('--scenarios <names>', `preset churn scenarios (${PRESETS.map((p) => p.name).join(', ')})`, PRESETS.map((p) => p.name).join(','))
    .option('--scenario <spec>', 'a custom scenario NAME:fail=%,leave=%,join=%,outages=N,outage-median=H,outage-sigma=S (repeatable)', collect)
    .addOption(new Option('--repair-interval <duration>', 'how often the repair chore runs')
      .argParser(wrap((v) => parseDuration(v, '--repair-interval'))).default(DEFAULTS.repairIntervalMs, '1h'))
    .addOption(new Option('--offline-after <duration>', 'silence after which the bridge stops counting a host\'s mirrors')
      .argParser(wrap((v) => parseDuration(v, '--offline-after'))).default(DEFAULTS.offlineAfterMs, '1h'))
    .addOption(new Option('--budget <size>', 'repair bytes copied per interval at most, or "unlimited"')
      .argParser(wrap((v) => (v === 'unlimited' ? Infinity : parseSize(v, '--budget')))).default(DEFAULTS.budgetBytes, '1GiB'))
    .option('--jobs <n>', 'worker threads', int('--jobs', 1), DEFAULTS.jobs)
    .option('--json', 'print machine-readable results instead of tables')
  program.parse(argv)
  const o = program.opts<{
    hosts: number; shards: number; shardSize: number; days: number; seed: number; mirrors: number[]; scenarios: string
    scenario?: string[]; repairInterval: number; offlineAfter: number; budget: number; jobs: number; json?: boolean
  }>()
  let scenarios: Scenario[]
  try {
    const named = program.getOptionValueSource('scenarios') === 'default' && o.scenario ? [] : o.scenarios.split(',').filter(Boolean)
    scenarios = [...named, ...(o.scenario ?? [])].map(parseScenario)
  } catch (err) {
    program.error(`error: ${(err as Error).message}`)
  }
  if (o.repairInterval <= 0) program.error('error: --repair-interval must be positive')
  if (o.shardSize <= 0) program.error('error: --shard-size must be positive')
  const opts: DurabilityOptions = {
    hosts: o.hosts, shards: o.shards, shardSize: o.shardSize, days: o.days, seed: o.seed, mirrors: o.mirrors, scenarios,
    repairIntervalMs: o.repairInterval, offlineAfterMs: o.offlineAfter, budgetBytes: o.budget, jobs: o.jobs,
  }
  const started = performance.now()
  const cfgs = configs(opts)
  const results = await runAll(cfgs, opts.jobs, (r, s) => {
    process.stderr.write(`  ${r.mirrors} mirrors, ${r.scenario}: ${r.lost} lost, ${s.toFixed(1)} s\n`)
  })
  const seconds = (performance.now() - started) / 1000
  if (o.json) {
    const budgetBytes = Number.isFinite(opts.budgetBytes) ? opts.budgetBytes : null
    process.stdout.write(JSON.stringify({ options: { ...opts, budgetBytes }, seconds, results }, null, 2) + '\n')
    return
  }
  const budget = Number.isFinite(opts.budgetBytes) ? `${(opts.budgetBytes / GiB).toFixed(2)} GiB per interval` : 'unlimited'
  process.stdout.write([
    `X Cloud durability: ${opts.hosts} hosts, ${opts.shards} shards of ${(opts.shardSize / MiB).toFixed(2)} MiB, ${opts.days} days, seed ${opts.seed}`,
    `repair every ${opts.repairIntervalMs / 60_000} min, offline after ${opts.offlineAfterMs / 60_000} min, budget ${budget}`,
    '',
    scenarioTable(scenarios),
    resultTable(results),
    `${cfgs.length} run${cfgs.length === 1 ? '' : 's'} in ${seconds.toFixed(1)} s (${opts.jobs} worker${opts.jobs === 1 ? '' : 's'})`,
    '',
  ].join('\n'))
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv).catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`)
    process.exit(1)
  })
}
