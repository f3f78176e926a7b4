/**
 * `xcore config`: argument checks, the atomic rewrite of config.json, and a running host applying
 * the change without a restart: new capacity enforced on the next PUT and announced to the bridge
 * at once; a new upload rate throttling the next download; a broken config.json ignored.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { getShard, initHostDir, putShard, request, runXcore, serveHost, sha256, tempDir, waitFor } from './helpers/host-process.js'

t.test('argument errors and a folder that is not a host', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const h = await initHostDir(t, bridge.url)
  const cfgBefore = await readFile(join(h.dir, 'config.json'), 'utf8')
  const cases: Array<[string[], number, RegExp]> = [
    [['config', '--data', h.dir, '--capacity', 'lots'], 2, /capacity/],
    [['config', '--data', h.dir, '--schedule', '25:00-26:00'], 2, /schedule/],
    [['config', '--data', h.dir, '--max-upload-rate', '-1'], 2, /rate/],
    [['config', '--data', h.dir, '--max-download-rate', 'fast'], 2, /rate/],
    [['config', '--capacity', '1GB'], 2, /--data/],
    [['config', '--data', join(await tempDir(t), 'nothing'), '--capacity', '1GB'], 1, /^error XC_CONFIG: /],
  ]
  for (const [args, code, msg] of cases) {
    const r = await runXcore(args)
    t.equal(r.code, code, args.join(' '))
    t.match(r.stderr, msg, args.join(' '))
  }
  t.equal(await readFile(join(h.dir, 'config.json'), 'utf8'), cfgBefore, 'refused changes leave config.json as it was')
})

t.test('changes are written atomically and printed', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const h = await initHostDir(t, bridge.url, ['--max-upload-rate', '1MB/s'])
  const show = await runXcore(['config', '--data', h.dir, '--json'])
  t.equal(show.code, 0)
  t.match(JSON.parse(show.stdout), { capacity: 1e9, schedule: null, maxUploadRate: 1e6, maxDownloadRate: null, region: 'default' })

  const r = await runXcore(['config', '--data', h.dir, '--capacity', '2GB', '--schedule', '06:00-22:00', '--max-upload-rate', 'none', '--max-download-rate', '8MB/s'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /capacity\s+1\.9 GiB/)
  t.match(r.stdout, /hours\s+06:00-22:00 UTC/)
  t.match(r.stdout, /max upload rate\s+unlimited/)
  t.match(r.stdout, /max download rate\s+7\.6 MiB\/s/)
  const cfg = JSON.parse(await readFile(join(h.dir, 'config.json'), 'utf8'))
  t.match(cfg, { capacity: 2e9, schedule: '06:00-22:00', maxUploadRate: null, maxDownloadRate: 8e6 })
  t.equal((await stat(join(h.dir, 'config.json'))).mode & 0o777, 0o600, 'still private')
  t.same((await readdir(h.dir)).filter((n) => n.includes('.tmp')), [], 'no temp file left')

  const lower = await runXcore(['config', '--data', h.dir, '--capacity', '0'])
  t.equal(lower.code, 0, 'a capacity of 0 (accept nothing new) is allowed')
})

t.test('a running host applies a new capacity at once and announces it', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url), ['--heartbeat', '200ms'])
  await waitFor('first announce', () => bridge.announces.length > 0)
  t.equal((await putShard(bridge, host, randomBytes(60_000))).status, 201)

  let n = bridge.announces.length
  const r = await runXcore(['config', '--data', host.dir, '--capacity', '100KB'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /running host .* applies this now/)
  await waitFor('announce with the new capacity', () => bridge.announces.slice(n).some((a) => a.body.capacity === 100_000))
  t.equal(bridge.announces.at(-1)!.body.capacity, 100_000)
  t.equal(bridge.announces.at(-1)!.signatureOk, true)
  const over = await putShard(bridge, host, randomBytes(50_000))
  t.equal(over.status, 507, 'what no longer fits is refused')
  t.equal(over.json().error.code, 'XC_CAPACITY')
  t.match((await request(host, { method: 'GET', path: '/ping' })).json(), { capacity: 100_000 })
  await waitFor('a heartbeat with the new capacity', () => bridge.heartbeats.at(-1)?.body.capacity === 100_000)

  const below = await runXcore(['config', '--data', host.dir, '--capacity', '10KB'])
  t.match(below.stderr, /already stores .* more than this capacity/, 'the owner is told stored shards stay')

  n = bridge.announces.length
  t.equal((await runXcore(['config', '--data', host.dir, '--capacity', '1MB'])).code, 0)
  await waitFor('announce with the raised capacity', () => bridge.announces.slice(n).some((a) => a.body.capacity === 1e6))
  t.equal((await putShard(bridge, host, randomBytes(50_000))).status, 201, 'accepted again')
})

t.test('a running host applies a new upload rate to the next download', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url), ['--heartbeat', '200ms'])
  const bytes = randomBytes(2 * 1024 * 1024)
  t.equal((await putShard(bridge, host, bytes)).status, 201)
  let start = performance.now()
  t.equal((await getShard(bridge, host, sha256(bytes))).status, 200)
  t.ok(performance.now() - start < 1000, 'unlimited at first')

  const n = bridge.announces.length
  t.equal((await runXcore(['config', '--data', host.dir, '--max-upload-rate', '1MB/s'])).code, 0)
  await waitFor('announce with the rate', () => bridge.announces.slice(n).some((a) => a.body.maxUploadRate === 1e6))
  start = performance.now()
  const g = await getShard(bridge, host, sha256(bytes))
  const secs = (performance.now() - start) / 1000
  t.ok(g.body.equals(bytes))
  // 2 MiB at 1 MB/s with a 256 KiB burst: about 1.8 s.
  t.ok(secs > 1.2, `throttled to the new rate (${secs.toFixed(2)} s)`)

  t.equal((await runXcore(['config', '--data', host.dir, '--max-upload-rate', 'none'])).code, 0)
  await waitFor('announce without the limit', () => bridge.announces.at(-1)!.body.maxUploadRate === null)
  start = performance.now()
  await getShard(bridge, host, sha256(bytes))
  t.ok(performance.now() - start < 1000, 'unlimited again')
})

t.test('a config.json that does not load changes nothing in a running host', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url), ['--heartbeat', '200ms', '--log-level', 'info'])
  const file = join(host.dir, 'config.json')
  const good = await readFile(file, 'utf8')
  await writeFile(file, '{ "capacity": ')
  await waitFor('the host to notice', () => host.stderr().includes('keeping the running settings'))
  t.equal(host.proc.exitCode, null, 'still running')
  t.match((await request(host, { method: 'GET', path: '/ping' })).json(), { capacity: 1e9 })
  await writeFile(file, good)
})
