/**
 * Async-iterable pipeline stages with an explicit concurrency bound. Memory is bounded by
 * construction: `parallelMap` pulls a new input only when one of its `concurrency` slots frees,
 * so at most `concurrency` items (plus the one being yielded) are alive at once, whatever the
 * length of the source.
 */

/** Map with at most `concurrency` calls of `fn` in flight; results in completion order. */
export async function* parallelMap<T, R>(
  source: AsyncIterable<T> | Iterable<T>,
  concurrency: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  if (!(concurrency >= 1)) throw new RangeError('concurrency must be >= 1')
  const it = (Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]()) as AsyncIterator<T> | Iterator<T>
  const running = new Map<number, Promise<{ id: number; ok: boolean; value?: R; error?: unknown }>>()
  let nextId = 0
  let done = false
  try {
    for (;;) {
      while (!done && running.size < concurrency) {
        const r = await it.next()
        if (r.done) { done = true; break }
        const id = nextId++
        running.set(id, fn(r.value).then(
          (value) => ({ id, ok: true, value }),
          (error: unknown) => ({ id, ok: false, error }),
        ))
      }
      if (running.size === 0) return
      const settled = await Promise.race(running.values())
      running.delete(settled.id)
      if (!settled.ok) throw settled.error
      yield settled.value as R
    }
  } finally {
    // Let in-flight work settle so no promise rejects unobserved after we leave.
    if (running.size) await Promise.allSettled(running.values())
    if (!done) await it.return?.()
  }
}

/** Group items into arrays of at most `size`. */
export async function* batch<T>(source: AsyncIterable<T> | Iterable<T>, size: number): AsyncGenerator<T[]> {
  let group: T[] = []
  for await (const item of source) {
    group.push(item)
    if (group.length >= size) { yield group; group = [] }
  }
  if (group.length) yield group
}

/** Drain an iterable, calling `fn` on each item. */
export async function drain<T>(source: AsyncIterable<T>, fn?: (item: T) => void): Promise<void> {
  for await (const item of source) fn?.(item)
}

/**
 * Pull the next item of `source` while the consumer works on the current one: at most one item is
 * waiting, so memory grows by one item. A failure of the source reaches the consumer when it asks
 * for that item. An item pulled ahead that the consumer never takes (it stopped early) goes to
 * `drop`.
 */
export async function* readAhead<T>(source: AsyncIterable<T>, drop?: (item: T) => void): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]()
  const pull = (): Promise<IteratorResult<T>> => it.next()
  let next: Promise<IteratorResult<T>> | null = pull()
  // Never an unhandled rejection while the consumer is busy; it sees the error when it awaits.
  next.catch(() => {})
  let done = false
  try {
    for (;;) {
      const r: IteratorResult<T> = await next
      if (r.done) { done = true; return }
      next = pull()
      next.catch(() => {})
      yield r.value
    }
  } finally {
    if (!done) {
      // Let a pull in flight settle before the source is closed.
      const r = await next?.catch(() => null)
      if (r && !r.done) drop?.(r.value)
      await it.return?.()
    }
  }
}
