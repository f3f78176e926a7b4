import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { TokenBucket, defaultBurst } from '../../src/host/bandwidth/token-bucket.js'
import { Throttle } from '../../src/host/bandwidth/throttle.js'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { initHostDir, request, serveHost, sha256, type ServedHost } from './helpers/host-process.js'
import type { FakeBridge } from './helpers/fake-bridge.js'

t.test('token bucket', async (t) => {
  t.equal(defaultBurst(4e6), 1e6, 'a quarter second of the rate')
  t.equal(defaultBurst(100_000), 256 * 1024, 'but at least 256 KiB')
  const b = new TokenBucket(1000, 500, 0)
  t.equal(b.take(500, 0), 0, 'the burst goes at once')
  t.equal(b.take(100, 0), 100, '100 bytes of debt at 1000 B/s wait 100 ms')
  t.equal(b.take(100, 0), 200, 'callers queue behind earlier debt')
  t.equal(b.available(200), 0, 'debt repaid after 200 ms')
  t.equal(b.available(10_000), 500, 'refill is capped at the burst')
  t.throws(() => new TokenBucket(0))
})

t.test('throttle transform keeps the rate and counts bytes', async (t) => {
  const rate = 2 * 1024 * 1024
  const bucket = new TokenBucket(rate, 256 * 1024, performance.now())
  let counted = 0
  let received = 0
  const total = 1024 * 1024 + 256 * 1024
  const start = performance.now()
  await pipeline(
    Readable.from([randomBytes(1024 * 1024), randomBytes(256 * 1024)]),
    new Throttle(bucket, (n) => (counted += n)),
    new Writable({ write: (c: Buffer, _e, cb) => ((received += c.length), cb()) }),
  )
  const ms = performance.now() - start
  t.equal(counted, total)
  t.equal(received, total)
  t.ok(ms >= 0.8 * 500, `1 MiB beyond the burst at 2 MiB/s takes ~500 ms (took ${ms.toFixed(0)})`)
  t.ok(ms < 2000)
})

async function putShards(t: Test, bridge: FakeBridge, host: ServedHost, shards: Buffer[]): Promise<number> {
  const start = performance.now()
  await Promise.all(
    shards.map(async (b) => {
      const h = sha256(b)
      const r = await request(host, { method: 'PUT', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'put', h, host: host.hostId, size: b.length })}`, 'content-length': b.length }, body: b })
      t.equal(r.status, 201)
    }),
  )
  return (performance.now() - start) / 1000
}

async function getShards(t: Test, bridge: FakeBridge, host: ServedHost, shards: Buffer[]): Promise<number> {
  const start = performance.now()
  await Promise.all(
    shards.map(async (b) => {
      const h = sha256(b)
      const r = await request(host, { method: 'GET', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'get', h, host: host.hostId })}` } })
      t.ok(r.body.equals(b))
    }),
  )
  return (performance.now() - start) / 1000
}

const RATE = 4e6
const shards = Array.from({ length: 4 }, () => randomBytes(2 * 1024 * 1024))
const total = shards.reduce((n, b) => n + b.length, 0)
const ideal = total / RATE

t.test('--max-upload-rate limits what the host sends, across connections', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url, ['--max-upload-rate', '4MB/s']))
  const putSecs = await putShards(t, bridge, host, shards)
  t.ok(putSecs < ideal * 0.7, `receiving is not limited (${putSecs.toFixed(2)} s)`)
  const secs = await getShards(t, bridge, host, shards)
  t.ok(secs >= ideal * 0.7, `8 MiB at 4 MB/s took ${secs.toFixed(2)} s (ideal ${ideal.toFixed(2)} s)`)
  t.ok(secs < ideal * 2 + 1, 'and not far longer')
})

t.test('--max-download-rate limits what the host receives', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url, ['--max-download-rate', '4MB/s']))
  const secs = await putShards(t, bridge, host, shards)
  t.ok(secs >= ideal * 0.7, `8 MiB at 4 MB/s took ${secs.toFixed(2)} s (ideal ${ideal.toFixed(2)} s)`)
  t.ok(secs < ideal * 2 + 1, 'and not far longer')
  const getSecs = await getShards(t, bridge, host, shards)
  t.ok(getSecs < ideal * 0.7, `sending is not limited (${getSecs.toFixed(2)} s)`)
})

t.test('a bucket takes a new rate; debt already owed stays owed', async (t) => {
  const b = new TokenBucket(1000, 500, 0)
  t.equal(b.take(700, 0), 200, '200 bytes of debt at 1000 B/s')
  b.setRate(100_000, 0)
  t.equal(b.rate, 100_000)
  t.equal(b.burst, defaultBurst(100_000))
  t.equal(b.take(0, 0), 2, 'the same debt repays faster at the new rate')
  t.equal(b.available(1000), 99_800, 'refills at the new rate')
  const fast = new TokenBucket(4e6, undefined, 0)
  t.equal(fast.available(1000), 1e6, 'a quarter second saved up at 4 MB/s')
  fast.setRate(1000, 1000)
  t.equal(fast.available(1000), 256 * 1024, 'a lower rate caps what was saved up at its own burst')
  t.throws(() => b.setRate(0, 0))
})

t.test('a rate limit can be set, changed and lifted', async (t) => {
  const { RateLimit } = await import('../../src/host/bandwidth/rate-limit.js')
  const l = new RateLimit(null)
  t.equal(l.bucket, null)
  l.set(1000)
  const bucket = l.bucket
  t.equal(l.rate, 1000)
  l.set(2000)
  t.equal(l.bucket, bucket, 'the same bucket: transfers in flight follow the new rate')
  t.equal(l.rate, 2000)
  l.set(null)
  t.equal(l.bucket, null)
  t.equal(l.rate, null)
})
