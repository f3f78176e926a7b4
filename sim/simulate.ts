/**
 * Run one durability configuration: build (or reuse) the population, the initial layout and the
 * churn trace, then let the engine play the trace.
 */
import { Simulation } from './engine.js'
import { initialLayout } from './layout.js'
import type { SimConfig, SimResult } from './results.js'
import { churnTrace, DAY, population, type HostPlan, type Trace } from './trace.js'

export type { SimConfig, SimResult } from './results.js'

/** Everything one seed shares across scenarios and mirror counts. */
export interface SimWorld {
  seed: number
  population: HostPlan[]
  layouts: Map<string, Int32Array>
  traces: Map<string, Trace>
}

export function newWorld(): SimWorld {
  return { seed: NaN, population: [], layouts: new Map(), traces: new Map() }
}

/**
 * Run one (scenario, mirrors) configuration. Pass the same `world` to runs of one seed and
 * population to reuse the initial layout and the churn trace (both are pure functions of the
 * seed, so reuse changes no result, only the time it takes).
 */
export function simulate(cfg: SimConfig, world: SimWorld = newWorld()): SimResult {
  if (world.seed !== cfg.seed || world.population.length !== cfg.hosts) {
    world.seed = cfg.seed
    world.population = population(cfg.seed, cfg.hosts)
    world.layouts.clear()
    world.traces.clear()
  }
  const layoutKey = `${cfg.mirrors}|${cfg.shards}|${cfg.shardSize}`
  let layout = world.layouts.get(layoutKey)
  if (!layout) {
    layout = initialLayout(cfg.seed, world.population, cfg.shards, cfg.shardSize, cfg.mirrors)
    world.layouts.set(layoutKey, layout)
  }
  const traceKey = `${JSON.stringify(cfg.scenario)}|${cfg.days}`
  let trace = world.traces.get(traceKey)
  if (!trace) {
    trace = churnTrace(cfg.seed, world.population, cfg.scenario, cfg.days * DAY)
    world.traces.set(traceKey, trace)
  }
  const sim = new Simulation(cfg, trace, layout)
  sim.run()
  return sim.result()
}
