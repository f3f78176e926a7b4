/**
 * What hosts are paid, from the bridge's config file (DATA/config.json, or --config FILE):
 *
 *   { "prices": { "currency": "USD", "storagePerGBHour": 0.0000020548, "egressPerGB": 0.002 } }
 *
 * GB = 10^9 bytes. The defaults are $1.50 per TB-month of storage (730 hours a month) and $2 per
 * TB served. Every key is optional; unknown keys and bad values are configuration errors.
 */
import { readFileSync } from 'node:fs'
import { xerr } from '../../shared/errors.js'

export interface Prices {
  currency: string
  storagePerGBHour: number
  egressPerGB: number
}

export const DEFAULT_PRICES: Prices = { currency: 'USD', storagePerGBHour: 1.5 / 1000 / 730, egressPerGB: 2 / 1000 }

export interface BridgeConfig {
  prices: Prices
}

export function parseBridgeConfig(raw: unknown, where: string): BridgeConfig {
  const bad = (what: string): never => {
    throw xerr('XC_CONFIG', `${where}: ${what}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('must be a JSON object')
  const c = raw as Record<string, unknown>
  for (const k of Object.keys(c)) if (k !== 'prices') bad(`unknown key "${k}"`)
  const p = (c.prices ?? {}) as Record<string, unknown>
  if (typeof p !== 'object' || p === null || Array.isArray(p)) bad('"prices" must be an object')
  for (const k of Object.keys(p)) if (!['currency', 'storagePerGBHour', 'egressPerGB'].includes(k)) bad(`unknown key "prices.${k}"`)
  const price = (k: 'storagePerGBHour' | 'egressPerGB'): number => {
    const v = p[k]
    if (v === undefined) return DEFAULT_PRICES[k]
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : bad(`"prices.${k}" must be a number >= 0`)
  }
  const currency = p.currency === undefined ? DEFAULT_PRICES.currency : typeof p.currency === 'string' && /^[A-Za-z]{1,10}$/.test(p.currency) ? p.currency : bad('"prices.currency" must be 1 to 10 letters')
  return { prices: { currency, storagePerGBHour: price('storagePerGBHour'), egressPerGB: price('egressPerGB') } }
}

/** Read the config file; a missing default file means defaults, a missing explicit one is an error. */
export function loadBridgeConfig(file: string, explicit: boolean): BridgeConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return { prices: DEFAULT_PRICES }
    throw xerr('XC_CONFIG', `cannot read ${file}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw xerr('XC_CONFIG', `${file} is not valid JSON`)
  }
  return parseBridgeConfig(raw, file)
}
