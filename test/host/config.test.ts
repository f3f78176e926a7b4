import t from 'tap'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { validateConfig } from '../../src/host/config.js'

// The on-disk config format, frozen: a host folder written by an older version must still load.
const fixture = fileURLToPath(new URL('../../../test/host/fixtures/config-v1.json', import.meta.url))

t.test('config v1 fixture loads', async (t) => {
  const raw = JSON.parse(await readFile(fixture, 'utf8'))
  const cfg = validateConfig(raw)
  t.same(cfg, raw)
})

t.test('bad configs fail with XC_CONFIG naming the field', async (t) => {
  const raw = JSON.parse(await readFile(fixture, 'utf8'))
  for (const [field, value] of [['capacity', -1], ['capacity', '1GB'], ['bridge', 'ftp://x'], ['listen', 'nowhere'], ['maxUploadRate', 0], ['publicKey', '']] as const) {
    t.throws(() => validateConfig({ ...raw, [field]: value }), { code: 'XC_CONFIG', message: new RegExp(field) }, `${field}=${value}`)
  }
  t.throws(() => validateConfig(null), { code: 'XC_CONFIG' })
})
