/**
 * The host's dashboard: status.json written by a serving host (speeds from the owner's point of
 * view, history, state), and `xcore status` combining it with what the bridge says (state,
 * earnings, reputation), including a bridge that refuses connections or never answers (exit 0,
 * local figures, `bridge: null` and `bridgeError`), a stopped host and a crashed one.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { getShard, initHostDir, putShard, runXcore, serveHost, sha256, waitFor } from './helpers/host-process.js'

const readStatus = async (dir: string) => JSON.parse(await readFile(join(dir, 'status.json'), 'utf8'))

t.test('a serving host writes status.json with traffic, speeds and history', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url), ['--heartbeat', '200ms'])
  const first = await readStatus(host.dir)
  t.match(first, { pid: host.proc.pid, hostId: host.hostId, url: host.url, bytesIn: 0, bytesOut: 0, capacity: 1e9, used: 0, shards: 0 })
  t.equal(typeof first.startedAt, 'number')
  t.equal((await stat(join(host.dir, 'status.json'))).mode & 0o777, 0o644, 'readable by a dashboard')

  const bytes = randomBytes(1024 * 1024)
  t.equal((await putShard(bridge, host, bytes)).status, 201)
  let s: any
  await waitFor('status with the upload', async () => (s = await readStatus(host.dir)).bytesIn >= bytes.length, 5000)
  t.ok(s.downloadBps > 0, `receiving shows as download speed (${s.downloadBps} B/s)`)
  t.equal(s.uploadBps, 0, 'nothing sent yet')
  t.match(s, { used: bytes.length, shards: 1, state: 'online' })

  t.equal((await getShard(bridge, host, sha256(bytes))).status, 200)
  await waitFor('status with the download', async () => (s = await readStatus(host.dir)).bytesOut >= bytes.length, 5000)
  t.ok(s.uploadBps > 0, `sending shows as upload speed (${s.uploadBps} B/s)`)
  t.ok(s.uptimeMs >= 2000)
  t.ok(Array.isArray(s.history) && s.history.length >= 2, 'history: the first minute sample plus the latest')
  t.match(s.history.at(-1), { bytesIn: s.bytesIn, bytesOut: s.bytesOut })
  t.ok(s.history.every((h: any) => typeof h.at === 'number'))

  host.proc.kill('SIGTERM')
  await host.exited
  await t.rejects(stat(join(host.dir, 'status.json')), 'removed at a clean stop')
})

t.test('xcore status shows uptime, speeds, state and earnings; a bridge that is away only costs the earnings', async (t) => {
  const bridge = await startFakeBridge()
  const host = await serveHost(t, await initHostDir(t, bridge.url, ['--schedule', '00:00-24:00']), ['--heartbeat', '200ms'])
  await waitFor('announce', () => bridge.announces.length > 0)
  const bytes = randomBytes(500_000)
  t.equal((await putShard(bridge, host, bytes)).status, 201)
  t.equal((await getShard(bridge, host, sha256(bytes))).status, 200)
  await waitFor('status.json with the traffic', async () => (await readStatus(host.dir)).bytesOut >= bytes.length, 5000)

  const j = await runXcore(['status', '--data', host.dir, '--json'])
  t.equal(j.code, 0, j.stderr)
  const s = JSON.parse(j.stdout)
  t.match(s, {
    hostId: host.hostId, url: host.url, bridgeUrl: bridge.url, region: 'default', capacity: 1e9, used: bytes.length, shards: 1, schedule: '00:00-24:00',
    running: true, pid: host.proc.pid, status: 'online', bytesIn: bytes.length, bytesOut: bytes.length, bridgeError: null,
    bridge: { hostId: host.hostId, state: 'online', reputation: 0.97, auditsPassed: 12, auditsFailed: 1, earnings: { currency: 'USD', week: 0.25, month: 1.5, year: 9.75, allTime: 12.5 } },
  })
  t.ok(s.uptimeMs > 0, 'uptime')
  t.match(s.dashboardUrl, /^http:\/\/127\.0\.0\.1:\d+$/, 'the local dashboard (on by default)')
  t.equal(s.dashboardUrl, await readFile(join(host.dir, 'dashboard-url'), 'utf8'))
  t.ok(Array.isArray(s.history) && s.history.length >= 1, 'the traffic history, for the dashboard\'s chart')
  t.match(s.history.at(-1), { bytesIn: bytes.length, bytesOut: bytes.length })
  t.equal(typeof s.uploadBps, 'number')
  t.equal(typeof s.downloadBps, 'number')
  t.match(bridge.selfCalls.at(-1), { path: '/v1/hosts/self', signatureOk: true, body: {} })

  const h = await runXcore(['status', '--data', host.dir])
  t.equal(h.code, 0)
  for (const line of [/^running\s+yes \(pid \d+\)$/m, /^dashboard http:\/\/127\.0\.0\.1:\d+$/m, /^status\s+online$/m, /^uptime\s+\d+s$/m, /^upload\s+.*\/s/m, /^download\s+.*\/s/m, /^hours\s+00:00-24:00 UTC$/m,
    /^earnings\s+week 0\.25 USD · month 1\.50 USD · year 9\.75 USD · all time 12\.50 USD$/m, /^trust\s+reputation 0\.97 \(audits: 12 passed, 1 failed\)$/m, /^\s+[0-9.]+ GB-hours stored, [0-9.]+ GB served$/m]) {
    t.match(h.stdout, line)
  }

  await bridge.close()
  const away = await runXcore(['status', '--data', host.dir, '--json'])
  t.equal(away.code, 0, 'exit 0 without the bridge')
  const a = JSON.parse(away.stdout)
  t.match(a, { running: true, bridge: null, bridgeError: { code: 'XC_UNAVAILABLE' }, used: bytes.length, bytesOut: bytes.length })
  t.equal(a.status, 'online', 'the last state the host heard')
  const ah = await runXcore(['status', '--data', host.dir])
  t.equal(ah.code, 0)
  t.match(ah.stdout, /^earnings\s+bridge unreachable \(XC_UNAVAILABLE\)$/m)
  t.match(ah.stdout, /^uptime/m, 'local figures still shown')
})

t.test('a bridge that never answers is given 5 s; a crashed host is not running', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url))
  host.proc.kill('SIGKILL')
  await host.exited
  t.ok((await readStatus(host.dir)).pid, 'a crash leaves status.json behind')

  const sockets = new Set<Socket>()
  const silent = createServer((s) => sockets.add(s))
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    silent.close()
  })
  const cfgFile = join(host.dir, 'config.json')
  const cfg = JSON.parse(await readFile(cfgFile, 'utf8'))
  const port = (silent.address() as { port: number }).port
  await writeFile(cfgFile, JSON.stringify({ ...cfg, bridge: `http://127.0.0.1:${port}` }))

  const start = Date.now()
  const r = await runXcore(['status', '--data', host.dir, '--json'])
  const ms = Date.now() - start
  t.equal(r.code, 0)
  t.ok(ms >= 4500 && ms < 12_000, `gave up after about 5 s (${ms} ms)`)
  const s = JSON.parse(r.stdout)
  t.match(s, { running: false, pid: null, url: null, dashboardUrl: null, history: [], status: 'not running', uptimeMs: null, uploadBps: 0, downloadBps: 0, bridge: null, bridgeError: { code: 'XC_TIMEOUT' } })
  const h = await runXcore(['status', '--data', host.dir])
  t.match(h.stdout, /^running\s+no$/m)
  t.match(h.stdout, /^status\s+not running$/m)
  t.match(h.stdout, /^earnings\s+bridge unreachable \(XC_TIMEOUT\)$/m)
})
