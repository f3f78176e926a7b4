import t from 'tap'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { validateConfig, type HostConfig } from '../../src/host/config.js'
import { diffConfig } from '../../src/host/live-config.js'
import { applySettings, settingsOf } from '../../src/host/settings.js'

// The on-disk config format, frozen: a host folder written by an older version must still load.
const fixture = fileURLToPath(new URL('../../../test/host/fixtures/config-v1.json', import.meta.url))
// The same format with the optional online hours added later.
const withSchedule = fileURLToPath(new URL('../../../test/host/fixtures/config-v1-schedule.json', import.meta.url))

t.test('config v1 fixture loads', async (t) => {
  const raw = JSON.parse(await readFile(fixture, 'utf8'))
  const cfg = validateConfig(raw)
  t.same(cfg, raw)
  t.equal(settingsOf(cfg).schedule, null, 'no schedule means always online')
})

t.test('config v1 with a schedule loads', async (t) => {
  const raw = JSON.parse(await readFile(withSchedule, 'utf8'))
  t.same(validateConfig(raw), raw)
  t.same(validateConfig({ ...raw, schedule: null }), { ...raw, schedule: null })
})

t.test('bad configs fail with XC_CONFIG naming the field', async (t) => {
  const raw = JSON.parse(await readFile(fixture, 'utf8'))
  for (const [field, value] of [['capacity', -1], ['capacity', '1GB'], ['bridge', 'ftp://x'], ['listen', 'nowhere'], ['maxUploadRate', 0], ['publicKey', ''], ['schedule', '8-20'], ['schedule', 5], ['schedule', '']] as const) {
    t.throws(() => validateConfig({ ...raw, [field]: value }), { code: 'XC_CONFIG', message: new RegExp(field) }, `${field}=${value}`)
  }
  t.throws(() => validateConfig(null), { code: 'XC_CONFIG' })
})

t.test('settings changes are pure and validated', async (t) => {
  const base = validateConfig(JSON.parse(await readFile(fixture, 'utf8')))
  const next = applySettings(base, { capacity: 5, schedule: ' 08:00-20:00 , 21:00-22:00', maxUploadRate: 1000, maxDownloadRate: null })
  t.match(next, { capacity: 5, schedule: '08:00-20:00,21:00-22:00', maxUploadRate: 1000, maxDownloadRate: null })
  t.equal(base.capacity, 1e9, 'the input is not changed')
  t.same(applySettings(base, {}), base, 'nothing asked, nothing changed')
  t.equal(applySettings(next, { schedule: null }).schedule, null)
  t.throws(() => applySettings(base, { capacity: -1 }), { code: 'XC_USAGE' })
  t.throws(() => applySettings(base, { maxUploadRate: 0 }), { code: 'XC_USAGE' })
  t.throws(() => applySettings(base, { schedule: '25:00-26:00' }), { code: 'XC_USAGE' })
})

t.test('diffConfig tells live settings from restart-only fields', async (t) => {
  const base = validateConfig(JSON.parse(await readFile(fixture, 'utf8')))
  const d = (over: Partial<HostConfig>) => diffConfig(base, { ...base, ...over })
  t.same(d({}), { live: [], restart: [] })
  t.same(d({ capacity: 1, schedule: '08:00-09:00' }), { live: ['capacity', 'schedule'], restart: [] })
  t.same(d({ schedule: null }), { live: [], restart: [] }, 'absent and null are the same: always online')
  t.same(d({ listen: '127.0.0.1:9', maxDownloadRate: null }), { live: ['maxDownloadRate'], restart: ['listen'] })
})
