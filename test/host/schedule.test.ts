/**
 * Online hours: `xcore init --schedule`, the announce carrying it, and a host outside its hours
 * refusing shards and orders with XC_OFF_SCHEDULE (503) while bad input still gets its 4xx; then
 * `xcore config --no-schedule` on the running host opens it again without a restart.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { getShard, initHostDir, postOrder, putShard, request, runXcore, serveHost, sha256, tempDir, waitFor } from './helpers/host-process.js'

const hhmm = (minute: number): string => {
  const m = ((minute % 1440) + 1440) % 1440
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`
}
/** A five-minute window starting five minutes from now: the current UTC minute is outside it. */
function closedNow(): string {
  const d = new Date()
  const now = d.getUTCHours() * 60 + d.getUTCMinutes()
  return `${hhmm(now + 5)}-${hhmm(now + 10)}`
}

t.test('init --schedule is validated and stored', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  for (const bad of ['8-20', '25:00-26:00', '08:00-08:00', '08:00-20:00,', '']) {
    const dir = join(await tempDir(t), 'h')
    const r = await runXcore(['init', '--data', dir, '--bridge', bridge.url, '--capacity', '1GB', '--schedule', bad])
    t.equal(r.code, 2, `"${bad}" is a usage error`)
    t.match(r.stderr, /^error XC_USAGE: .*schedule/)
  }
  const h = await initHostDir(t, bridge.url, ['--schedule', '08:00-20:00, 22:00-23:00'])
  const cfg = JSON.parse(await readFile(join(h.dir, 'config.json'), 'utf8'))
  t.equal(cfg.schedule, '08:00-20:00,22:00-23:00', 'stored in canonical form')
})

t.test('outside its hours a host refuses shards and orders, and opens again when the owner says so', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const schedule = closedNow()
  const inited = await initHostDir(t, bridge.url)
  // Stored while open (no schedule yet), then the schedule is set before serving.
  const host0 = await serveHost(t, inited)
  const bytes = randomBytes(4000)
  const hash = sha256(bytes)
  t.equal((await putShard(bridge, host0, bytes)).status, 201)
  host0.proc.kill('SIGTERM')
  await host0.exited
  t.equal((await runXcore(['config', '--data', inited.dir, '--schedule', schedule])).code, 0)

  const host = await serveHost(t, inited, ['--heartbeat', '200ms'])
  await waitFor('announce', () => bridge.announces.some((a) => a.body.url === host.url))
  t.equal(bridge.announces.at(-1)!.body.schedule, schedule, 'the announce carries the schedule')

  const off = (r: { status: number; json(): any }, what: string) => {
    t.equal(r.status, 503, what)
    t.equal(r.json().error.code, 'XC_OFF_SCHEDULE', what)
  }
  off(await putShard(bridge, host, randomBytes(1000)), 'PUT')
  off(await getShard(bridge, host, hash), 'GET')
  const audit = bridge.order(host.hostId, { kind: 'audit', hash, salt: randomBytes(16).toString('base64url'), topUp: [] })
  off(await postOrder(host, audit), 'orders')
  // Bad input is still bad input, not "come back later".
  const noToken = await request(host, { method: 'GET', path: `/shards/${hash}` })
  t.equal(noToken.status, 401, 'a missing token is still a 401')
  t.equal((await postOrder(host, 'abc.def')).status, 401, 'a forged order is still a 401')
  t.equal((await request(host, { method: 'GET', path: '/ping' })).status, 200, 'ping answers at all hours')

  const n = bridge.announces.length
  const r = await runXcore(['config', '--data', inited.dir, '--no-schedule', '--json'])
  t.equal(r.code, 0, r.stderr)
  t.equal(JSON.parse(r.stdout).schedule, null)
  await waitFor('a new announce without the schedule', () => bridge.announces.length > n && bridge.announces.at(-1)!.body.schedule === null)
  t.equal((await getShard(bridge, host, hash)).status, 200, 'GET works again')
  t.equal((await putShard(bridge, host, randomBytes(1000))).status, 201, 'PUT works again')
  const later = await postOrder(host, audit)
  t.equal(later.status, 200, 'an order refused off schedule was not spent: the bridge may send it again')
})
