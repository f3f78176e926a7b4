/**
 * The one retry wrapper: exponential backoff with jitter, only for errors the error table marks
 * retryable (or network errors). Callers never write their own loops.
 */
import { isRetryable } from './errors.js'

export interface RetryOptions {
  attempts?: number
  baseMs?: number
  maxMs?: number
  signal?: AbortSignal
  onRetry?: (err: unknown, attempt: number) => void
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 4
  const base = opts.baseMs ?? 100
  const max = opts.maxMs ?? 5_000
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (attempt >= attempts || !isRetryable(err) || opts.signal?.aborted) throw err
      opts.onRetry?.(err, attempt)
      const delay = Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2)
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
}
