import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { hostIdOf } from '../../src/shared/tokens.js'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { initHostDir, request, runXcore, serveHost, sha256, tempDir } from './helpers/host-process.js'

const waitFor = async (what: string, cond: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('init writes a private folder with keys, certificate and the pinned bridge key', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const dir = join(await tempDir(t), 'h')
  const r = await runXcore(['init', '--data', dir, '--bridge', bridge.url, '--capacity', '2GiB', '--region', 'eu-west', '--max-upload-rate', '16MB/s', '--listen', '127.0.0.1:0'])
  t.equal(r.code, 0, r.stderr)
  const hostId = r.stdout.trim()
  t.match(hostId, /^[0-9a-f]{64}$/)
  t.equal((await stat(dir)).mode & 0o777, 0o700)
  t.equal((await stat(join(dir, 'config.json'))).mode & 0o777, 0o600)
  const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))
  t.match(cfg, { bridge: bridge.url, listen: '127.0.0.1:0', capacity: 2 * 1024 ** 3, region: 'eu-west', maxUploadRate: 16e6, maxDownloadRate: null, bridgePublicKey: bridge.keys.publicKey })
  t.equal(hostIdOf(cfg.publicKey), hostId)
  t.match(await readFile(join(dir, 'tls', 'cert.pem'), 'utf8'), /BEGIN CERTIFICATE/)
  t.match(await readFile(join(dir, 'tls', 'key.pem'), 'utf8'), /BEGIN RSA PRIVATE KEY/)

  const again = await runXcore(['init', '--data', dir, '--bridge', bridge.url, '--capacity', '1GB'])
  t.equal(again.code, 1, 'refuses to overwrite')
  t.match(again.stderr, /^error XC_EXISTS: /)
  t.same(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')), cfg, 'config untouched')

  const s = await runXcore(['status', '--data', dir])
  t.equal(s.code, 0)
  t.match(s.stdout, hostId)
  t.match(s.stdout, /not running/)
})

t.test('init and serve argument errors', async (t) => {
  const dir = join(await tempDir(t), 'h')
  const cases: Array<[string[], number, RegExp]> = [
    [['init', '--data', dir, '--bridge', 'http://127.0.0.1:9', '--capacity', 'lots'], 2, /capacity/],
    [['init', '--data', dir, '--bridge', 'http://127.0.0.1:9', '--capacity', '1GB', '--listen', 'nope'], 2, /listen/],
    [['init', '--data', dir, '--bridge', 'http://127.0.0.1:9', '--capacity', '1GB', '--max-upload-rate', '-3'], 2, /rate/],
    [['init', '--data', dir, '--bridge', 'ftp://x', '--capacity', '1GB'], 2, /bridge URL/],
    [['init', '--data', dir, '--capacity', '1GB'], 2, /--bridge/],
    [['serve'], 2, /--data/],
    [['serve', '--data', dir, '--heartbeat', 'soon'], 2, /heartbeat/],
    [['frobnicate'], 2, /unknown command/],
    [['init', '--data', dir, '--bridge', 'http://127.0.0.1:9', '--capacity', '1GB'], 1, /^error XC_UNAVAILABLE: cannot reach the bridge/],
    [['serve', '--data', dir], 1, /^error XC_CONFIG: /],
  ]
  for (const [args, code, msg] of cases) {
    const r = await runXcore(args)
    t.equal(r.code, code, args.join(' '))
    t.match(r.stderr, msg, args.join(' '))
  }
  await t.rejects(stat(join(dir, 'config.json')), 'an unreachable bridge leaves no config behind')
})

t.test('announce and heartbeats reach the bridge, signed', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const inited = await initHostDir(t, bridge.url, ['--region', 'r1'])
  const host = await serveHost(t, inited, ['--heartbeat', '200ms'])
  t.equal((await readFile(join(host.dir, 'url'), 'utf8')), host.url, 'url file written')
  await waitFor('announce', () => bridge.announces.length > 0)
  const a = bridge.announces[0]!
  t.equal(a.signatureOk, true, 'announce signature verifies')
  t.equal(a.hostId, host.hostId)
  t.match(a.body, { url: host.url, fingerprint: host.fingerprint, cert: host.certPem, capacity: 1e9, used: 0, region: 'r1', maxUploadRate: null, maxDownloadRate: null })
  t.match(a.body.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)

  const b = randomBytes(3000)
  const h = sha256(b)
  const put = await request(host, { method: 'PUT', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'put', h, host: host.hostId, size: b.length })}`, 'content-length': b.length }, body: b })
  t.equal(put.status, 201)
  await request(host, { method: 'GET', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'get', h, host: host.hostId })}` } })

  await waitFor('heartbeat with traffic', () => bridge.heartbeats.some((x) => x.body.bytesOut >= 3000))
  t.ok(bridge.heartbeats.length >= 1)
  t.ok(bridge.heartbeats.every((x) => x.signatureOk), 'heartbeat signatures verify')
  const last = bridge.heartbeats.at(-1)!
  t.match(last.body, { capacity: 1e9, used: 3000, shards: 1, bytesIn: 3000, bytesOut: 3000 })
  t.ok(last.body.uptimeMs > 0)
})

t.test('a bridge that is away at start is reached once it appears', async (t) => {
  const bridge = await startFakeBridge()
  const inited = await initHostDir(t, bridge.url)
  const port = new URL(bridge.url).port
  await bridge.close()
  const host = await serveHost(t, inited, ['--heartbeat', '200ms'])
  t.equal((await request(host, { method: 'GET', path: '/ping' })).status, 200, 'serves while the bridge is down')
  await new Promise((r) => setTimeout(r, 1500))
  t.equal(host.proc.exitCode, null, 'still running')
  // Bring a bridge back on the same port; the host's backoff retry finds it.
  const { default: Fastify } = await import('fastify')
  const seen: string[] = []
  const app = Fastify()
  app.post('/v1/hosts/announce', async (req) => {
    seen.push(req.url)
    return { hostId: inited.hostId, heartbeatMs: 30_000 }
  })
  app.post('/v1/hosts/heartbeat', async () => ({ ok: true }))
  await app.listen({ host: '127.0.0.1', port: Number(port) })
  t.teardown(() => app.close())
  await waitFor('announce after the bridge came back', () => seen.length > 0, 15_000)
  t.pass('announced')
})

t.test('SIGTERM and SIGINT exit cleanly and remove the url file', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    const host = await serveHost(t, await initHostDir(t, bridge.url))
    t.equal((await request(host, { method: 'GET', path: '/ping' })).status, 200)
    host.agent.destroy()
    host.proc.kill(sig)
    t.equal(await host.exited, 0, `${sig} exits 0`)
    await t.rejects(stat(join(host.dir, 'url')), 'url file removed')
  }
})

t.test('SIGTERM lets a transfer in flight finish', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url, ['--max-download-rate', '1MB/s']))
  const b = randomBytes(1024 * 1024)
  const h = sha256(b)
  const put = request(host, { method: 'PUT', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'put', h, host: host.hostId, size: b.length })}`, 'content-length': b.length }, body: b })
  await new Promise((r) => setTimeout(r, 300))
  host.proc.kill('SIGTERM')
  const r = await put
  t.equal(r.status, 201, 'the upload completed')
  t.equal(await host.exited, 0)
})

t.test('capacity is enforced before accepting a shard', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const dir = join(await tempDir(t), 'h')
  const init = await runXcore(['init', '--data', dir, '--bridge', bridge.url, '--capacity', '100KB'])
  t.equal(init.code, 0, init.stderr)
  // A stray file in shards/ that is not a shard does not count.
  await mkdir(join(dir, 'shards', 'zz'), { recursive: true })
  await writeFile(join(dir, 'shards', 'zz', 'notes.txt'), 'x'.repeat(1000))
  const host = await serveHost(t, { dir, hostId: init.stdout.trim() })
  const send = (b: Buffer) => {
    const h = sha256(b)
    return request(host, { method: 'PUT', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'put', h, host: host.hostId, size: b.length })}`, 'content-length': b.length }, body: b })
  }
  t.equal((await send(randomBytes(60_000))).status, 201)
  const over = await send(randomBytes(50_000))
  t.equal(over.status, 507)
  t.equal(over.json().error.code, 'XC_CAPACITY')
  t.equal((await send(randomBytes(40_000))).status, 201, 'what still fits is accepted')
  const ping = await request(host, { method: 'GET', path: '/ping' })
  t.match(ping.json(), { capacity: 100_000, used: 100_000 })
  const big = randomBytes(200_000)
  t.equal((await send(big)).status, 507)

  // used survives a restart (scanned from disk)
  host.proc.kill('SIGTERM')
  await host.exited
  const again = await serveHost(t, { dir, hostId: host.hostId })
  t.match((await request(again, { method: 'GET', path: '/ping' })).json(), { used: 100_000 })
})
