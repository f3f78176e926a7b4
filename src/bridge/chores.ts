/**
 * The bridge's background work: audits, repair (checker + repairer, then dropping mirrors no
 * longer needed and completing exits) and garbage collection (with delivery of delete orders).
 * Each chore runs one round, then sleeps its interval; rounds of one chore never overlap, and
 * stop() waits for rounds in flight. A failing round is logged and retried next interval.
 */
import type { Logger } from 'pino'

export interface Chore {
  name: string
  intervalMs: number
  run(): Promise<unknown>
}

export interface RunningChores {
  stop(): Promise<void>
  /** Run one round of a chore now (tests, admin); resolves with its result. */
  runNow(name: string): Promise<unknown>
}

export function startChores(chores: readonly Chore[], log: Pick<Logger, 'warn' | 'debug'>): RunningChores {
  const abort = new AbortController()
  const busy = new Map<string, Promise<unknown>>()
  const once = (c: Chore): Promise<unknown> => {
    let p = busy.get(c.name)
    if (p) return p
    p = c.run().finally(() => busy.delete(c.name))
    busy.set(c.name, p)
    return p
  }
  const loops = chores.map(async (c) => {
    while (!abort.signal.aborted) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, c.intervalMs)
        abort.signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
      })
      if (abort.signal.aborted) break
      try {
        const result = await once(c)
        log.debug({ chore: c.name, result }, 'chore round')
      } catch (err) {
        log.warn({ chore: c.name, err: String(err) }, 'chore round failed')
      }
    }
  })
  return {
    async stop() {
      abort.abort()
      await Promise.all(loops)
      await Promise.allSettled([...busy.values()])
    },
    runNow(name) {
      const c = chores.find((x) => x.name === name)
      if (!c) return Promise.reject(new Error(`no chore ${name}`))
      return once(c)
    },
  }
}
