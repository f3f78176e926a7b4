/**
 * `xcore exit` against the fake bridge: the host-signed exit request, progress while the bridge
 * drains the host's shards, the final message once it says `exited`, --no-wait, --json, the
 * timeout, a state that cannot finish, and a bridge that does not know the host. A serving host
 * told `exited` logs it and keeps running.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { initHostDir, putShard, runXcore, serveHost, waitFor } from './helpers/host-process.js'

t.test('exit drains, reports progress, ends when the bridge says exited; the host keeps running', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url), ['--heartbeat', '200ms', '--log-level', 'info'])
  await waitFor('announce', () => bridge.announces.length > 0)
  for (let i = 0; i < 3; i++) t.equal((await putShard(bridge, host, randomBytes(1000))).status, 201)
  Object.assign(bridge.self(host.hostId), { shards: 3, storedBytes: 3000 })

  const started = await runXcore(['exit', '--data', host.dir, '--no-wait'])
  t.equal(started.code, 0, started.stderr)
  t.match(started.stdout, /exit started: the bridge is moving 3 shard\(s\)/)
  t.notMatch(started.stderr, /not running/, 'no warning: the host is serving')
  t.equal(bridge.self(host.hostId).state, 'exiting')
  const exitCall = bridge.selfCalls.at(-1)!
  t.match(exitCall, { path: '/v1/hosts/exit', hostId: host.hostId, signatureOk: true, body: {} })

  const slow = await runXcore(['exit', '--data', host.dir, '--timeout', '1500ms'])
  t.equal(slow.code, 1, 'a bridge that does not finish in time')
  t.match(slow.stderr, /^error XC_TIMEOUT: .*3 shard/m)
  t.match(slow.stdout, /exiting: 3 shard\(s\) \(2\.9 KiB\) still held here/)

  // Now the bridge moves one shard per poll, then says exited.
  bridge.onSelf = (s, path) => {
    if (path !== '/v1/hosts/self') return
    s.shards = Math.max(0, s.shards - 1)
    s.storedBytes = s.shards * 1000
    if (s.shards === 0) s.state = 'exited'
  }
  const polls = bridge.selfCalls.length
  const done = await runXcore(['exit', '--data', host.dir])
  t.equal(done.code, 0, done.stderr)
  t.match(done.stdout, /exiting: 3 shard/)
  t.match(done.stdout, /exiting: 2 shard/)
  t.match(done.stdout, /exiting: 1 shard/)
  t.match(done.stdout, /exited: .*the data folder .* can now be removed/)
  const calls = bridge.selfCalls.slice(polls)
  t.same(calls.map((c) => c.path), ['/v1/hosts/exit', '/v1/hosts/self', '/v1/hosts/self', '/v1/hosts/self'])
  t.ok(calls.every((c) => c.signatureOk), 'every call is host-signed')
  t.ok(calls.at(-1)!.at - calls[1]!.at >= 1500, 'polls about once a second')

  // The serving host hears `exited` in its next heartbeat, says so, and keeps running.
  await waitFor('the host to log the exit', () => /exited/.test(host.stderr()))
  await waitFor('status.json to show it', async () => JSON.parse(await readFile(join(host.dir, 'status.json'), 'utf8')).state === 'exited', 5000)
  t.equal(host.proc.exitCode, null, 'still running: the owner stops the service')

  const json = await runXcore(['exit', '--data', host.dir, '--json'])
  t.equal(json.code, 0)
  t.match(JSON.parse(json.stdout), { hostId: host.hostId, state: 'exited', shards: 0 })
})

t.test('exit errors', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())

  const unknown = await initHostDir(t, bridge.url)
  const r = await runXcore(['exit', '--data', unknown.dir])
  t.equal(r.code, 1)
  t.match(r.stderr, /warning: this host is not running/)
  t.match(r.stderr, /^error XC_NOT_FOUND: /m, 'a bridge that does not know the host says so')

  const h = await initHostDir(t, bridge.url)
  bridge.knowHost(JSON.parse(await readFile(join(h.dir, 'config.json'), 'utf8')).publicKey)
  bridge.onSelf = (s, path) => {
    if (path === '/v1/hosts/self') s.state = 'suspended'
  }
  const suspended = await runXcore(['exit', '--data', h.dir])
  t.equal(suspended.code, 1)
  t.match(suspended.stderr, /^error XC_HOST_STATE: .*suspended/m)

  const bad = await runXcore(['exit', '--data', h.dir, '--timeout', 'soon'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /timeout/)
})
