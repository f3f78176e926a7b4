/**
 * Seeded randomness for the simulations: every run with the same seed makes the same draws, so a
 * result can be reproduced and two configurations can be compared on the same churn.
 *
 * `stream(seed, ...labels)` derives an independent generator per purpose (the churn trace of a
 * scenario, the placement draws of one mirror count), so changing how many draws one purpose
 * makes never shifts another's sequence.
 */

export type Random = () => number

/** sfc32: small, fast, passes PractRand; returns [0, 1). */
function sfc32(a: number, b: number, c: number, d: number): Random {
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
}

/** FNV-1a over the labels, mixed with the seed: a 32-bit key per purpose. */
function key(seed: number, labels: readonly (string | number)[]): number {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (const ch of labels.join('\u0000')) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0
  return h
}

/** splitmix32, to spread one 32-bit key over sfc32's four words of state. */
function splitmix(x: number): () => number {
  return () => {
    x = (x + 0x9e3779b9) | 0
    let z = x
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

export function stream(seed: number, ...labels: (string | number)[]): Random {
  const sm = splitmix(key(seed, labels))
  const r = sfc32(sm(), sm(), sm(), sm())
  for (let i = 0; i < 12; i++) r() // warm up, as sfc32's authors advise
  return r
}

/** Exponential with the given mean (mean = Infinity when the rate is 0). */
export function exponential(random: Random, mean: number): number {
  if (!Number.isFinite(mean)) return Infinity
  return -Math.log(1 - random()) * mean
}

export function normal(random: Random): number {
  // Box-Muller; 1 - u keeps log away from 0.
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

/** Log-normal with the given median and sigma (of the underlying normal). */
export function logNormal(random: Random, median: number, sigma: number): number {
  return median * Math.exp(sigma * normal(random))
}
