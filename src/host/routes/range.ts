/**
 * One HTTP byte range (RFC 9110 §14), decided as a pure function. A host serves a single range per
 * request; anything it cannot serve exactly is XC_BAD_RANGE, rather than silently sending the
 * whole shard to a client that asked for part of it.
 */

export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number } // end inclusive
  | { kind: 'unsatisfiable' }

export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full' }
  const m = /^\s*bytes\s*=\s*(\d{0,16})\s*-\s*(\d{0,16})\s*$/i.exec(header)
  if (!m) return { kind: 'unsatisfiable' }
  const [, a, b] = m
  if (a === '' && b === '') return { kind: 'unsatisfiable' }
  if (a === '') {
    // Suffix: the last n bytes.
    const n = Number(b)
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(a)
  if (start >= size) return { kind: 'unsatisfiable' }
  if (b === '') return { kind: 'partial', start, end: size - 1 }
  const last = Number(b)
  if (last < start) return { kind: 'unsatisfiable' }
  return { kind: 'partial', start, end: Math.min(last, size - 1) }
}
