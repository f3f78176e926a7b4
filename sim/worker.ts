/**
 * A worker thread of `npm run sim:durability`: runs the configurations it is sent, one at a time,
 * keeping the seed's population, layouts and traces between them.
 */
import { parentPort } from 'node:worker_threads'
import { newWorld, simulate, type SimConfig } from './simulate.js'

const world = newWorld()
parentPort!.on('message', (job: { id: number; cfg: SimConfig }) => {
  const started = performance.now()
  const result = simulate(job.cfg, world)
  parentPort!.postMessage({ id: job.id, result, seconds: (performance.now() - started) / 1000 })
})
