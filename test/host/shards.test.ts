import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { join } from 'node:path'
import { generateSigningKeys, publicKeyObject, verifyReceipt, type Receipt } from '../../src/shared/tokens.js'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { initHostDir, pinnedAgent, request, runXcore, serveHost, sha256 } from './helpers/host-process.js'

const bridge = await startFakeBridge()
t.teardown(() => bridge.close())
const inited = await initHostDir(t, bridge.url)
const host = await serveHost(t, inited)
const hostPub = publicKeyObject(JSON.parse(await readFile(join(inited.dir, 'config.json'), 'utf8')).publicKey)

const put = (hash: string, body: Buffer, token: string | undefined, headers: Record<string, string | number> = {}) =>
  request(host, {
    method: 'PUT',
    path: `/shards/${hash}`,
    headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, ...(token ? { authorization: `XC-Token ${token}` } : {}), ...headers },
    body,
  })
const get = (hash: string, token: string | undefined, headers: Record<string, string> = {}) =>
  request(host, { method: 'GET', path: `/shards/${hash}`, headers: { ...(token ? { authorization: `XC-Token ${token}` } : {}), ...headers } })
const putToken = (h: string, size: number, over: Partial<{ host: string; exp: number }> = {}) => bridge.token({ op: 'put', h, host: host.hostId, size, ...over })
const getToken = (h: string) => bridge.token({ op: 'get', h, host: host.hostId })

const shard = randomBytes(2 * 1024 * 1024 - 37)
const hash = sha256(shard)

t.test('ping', async (t) => {
  const r = await request(host, { method: 'GET', path: '/ping' })
  t.equal(r.status, 200)
  t.same(r.json(), { ok: true, hostId: host.hostId, capacity: 1e9, used: 0 })
})

t.test('a get of a shard the host does not hold answers 404 XC_NOT_FOUND, also for a range', async (t) => {
  const absent = sha256(randomBytes(100))
  for (const headers of [{}, { range: 'bytes=0-9' }] as Record<string, string>[]) {
    const r = await get(absent, getToken(absent), headers)
    t.equal(r.status, 404, JSON.stringify(headers))
    t.equal(r.json().error.code, 'XC_NOT_FOUND')
  }
})

t.test('put then get round trip with a valid receipt', async (t) => {
  const r = await put(hash, shard, putToken(hash, shard.length))
  t.equal(r.status, 201, r.body.toString())
  const receipt = r.json() as Receipt
  t.match(receipt, { v: 1, host: host.hostId, h: hash, size: shard.length })
  t.ok(verifyReceipt(hostPub, receipt), 'receipt signed by the host key')
  t.notOk(verifyReceipt(publicKeyObject(generateSigningKeys().publicKey), receipt), 'and not by another key')

  const g = await get(hash, getToken(hash))
  t.equal(g.status, 200)
  t.equal(g.headers['content-length'], String(shard.length))
  t.equal(g.headers['content-type'], 'application/octet-stream')
  t.ok(g.body.equals(shard), 'same bytes back')

  const again = await put(hash, shard, putToken(hash, shard.length))
  t.equal(again.status, 200, 'a second put of the same shard is idempotent')
  t.ok(verifyReceipt(hostPub, again.json()))

  const ping = await request(host, { method: 'GET', path: '/ping' })
  t.equal(ping.json().used, shard.length)
  t.ok(
    (await readdir(join(host.dir, 'shards', hash.slice(0, 2), hash.slice(2, 4)))).includes(hash),
    'stored at shards/<h0..2>/<h2..4>/<hash>',
  )
})

t.test('any content type, and none, is accepted for the body', async (t) => {
  for (const ct of ['application/json', 'text/plain', undefined]) {
    const b = randomBytes(1000)
    const h = sha256(b)
    const headers: Record<string, string | number> = { authorization: `XC-Token ${putToken(h, b.length)}`, 'content-length': b.length }
    if (ct) headers['content-type'] = ct
    const r = await request(host, { method: 'PUT', path: `/shards/${h}`, headers, body: b })
    t.equal(r.status, 201, `${ct}: ${r.body.toString()}`)
  }
})

t.test('range requests', async (t) => {
  const tok = getToken(hash)
  const size = shard.length
  const r1 = await get(hash, tok, { range: 'bytes=10-19' })
  t.equal(r1.status, 206)
  t.equal(r1.headers['content-range'], `bytes 10-19/${size}`)
  t.equal(r1.headers['content-length'], '10')
  t.ok(r1.body.equals(shard.subarray(10, 20)))

  const r2 = await get(hash, tok, { range: `bytes=${size - 5}-` })
  t.equal(r2.status, 206)
  t.ok(r2.body.equals(shard.subarray(size - 5)))

  const r3 = await get(hash, tok, { range: 'bytes=-100' })
  t.equal(r3.status, 206)
  t.equal(r3.headers['content-range'], `bytes ${size - 100}-${size - 1}/${size}`)
  t.ok(r3.body.equals(shard.subarray(size - 100)))

  const r4 = await get(hash, tok, { range: `bytes=1000000-${size + 1000}` })
  t.equal(r4.status, 206, 'an end past the size is clamped')
  t.ok(r4.body.equals(shard.subarray(1000000)))

  for (const bad of [`bytes=${size}-`, 'bytes=20-10', 'bytes=-0', 'bytes=0-1,5-6', 'items=0-1', 'bytes=abc']) {
    const r = await get(hash, tok, { range: bad })
    t.equal(r.status, 416, bad)
    t.equal(r.json().error.code, 'XC_BAD_RANGE', bad)
    t.equal(r.headers['content-range'], `bytes */${size}`, bad)
  }
})

t.test('token failures', async (t) => {
  const b = randomBytes(4096)
  const h = sha256(b)
  const cases: Array<[string, Promise<{ status: number; json(): any }>, number, string]> = [
    ['missing token', put(h, b, undefined), 401, 'XC_TOKEN_MISSING'],
    ['forged token', put(h, b, bridge.token({ op: 'put', h, host: host.hostId, size: b.length }, generateSigningKeys())), 401, 'XC_TOKEN_INVALID'],
    ['expired token', put(h, b, putToken(h, b.length, { exp: Date.now() - 1000 })), 401, 'XC_TOKEN_EXPIRED'],
    ['token for another shard', put(h, b, putToken(hash, b.length)), 403, 'XC_TOKEN_SCOPE'],
    ['token for another host', put(h, b, putToken(h, b.length, { host: 'ab'.repeat(32) })), 403, 'XC_TOKEN_SCOPE'],
    ['get token used for put', put(h, b, getToken(h)), 403, 'XC_TOKEN_SCOPE'],
    ['put token used for get', get(hash, putToken(hash, shard.length)), 403, 'XC_TOKEN_SCOPE'],
    ['malformed Authorization', put(h, b, undefined, { authorization: 'Bearer abc' }), 401, 'XC_TOKEN_INVALID'],
    ['garbage token', put(h, b, 'not-a-token'), 401, 'XC_TOKEN_INVALID'],
    ['get without token', get(hash, undefined), 401, 'XC_TOKEN_MISSING'],
  ]
  for (const [name, p, status, code] of cases) {
    const r = await p
    t.equal(r.status, status, name)
    t.equal(r.json().error.code, code, name)
  }
  t.equal((await get(h, getToken(h))).status, 404, 'nothing was stored by the refused puts')
})

t.test('malformed hashes and traversal attempts', async (t) => {
  for (const path of ['/shards/abc', `/shards/${hash.toUpperCase()}`, `/shards/${hash}0`, '/shards/..%2F..%2Fconfig.json', '/shards/..%2fconfig.json', '/shards/%2e%2e']) {
    for (const method of ['GET', 'PUT']) {
      const r = await request(host, { method, path, headers: { authorization: `XC-Token ${getToken(hash)}`, 'content-length': 0 } })
      t.equal(r.status, 400, `${method} ${path}`)
      t.equal(r.json().error.code, 'XC_BAD_HASH', `${method} ${path}`)
    }
  }
  for (const path of ['/shards/../config.json', '/shards/../../etc/passwd', '/../config.json', '/shards/' + 'a'.repeat(5000)]) {
    const r = await request(host, { method: 'GET', path })
    t.ok(r.status >= 400 && r.status < 500, `${path} → ${r.status}`)
    t.notOk(r.body.toString().includes('privateKey'), 'never serves a file outside shards/')
  }
})

t.test('bytes that do not match the hash', async (t) => {
  const b = randomBytes(100_000)
  const h = sha256(randomBytes(10))
  const r = await put(h, b, putToken(h, b.length))
  t.equal(r.status, 422)
  t.equal(r.json().error.code, 'XC_HASH_MISMATCH')
  t.equal((await get(h, getToken(h))).status, 404)
  t.same(await readdir(join(host.dir, 'tmp')), [], 'temp file removed')

  // Also when the host already has the shard: garbage is still refused.
  const bad = Buffer.from(shard)
  bad[0]! ^= 1
  const r2 = await put(hash, bad, putToken(hash, shard.length))
  t.equal(r2.status, 422)
  t.equal(r2.json().error.code, 'XC_HASH_MISMATCH')
})

t.test('Content-Length', async (t) => {
  const b = randomBytes(1000)
  const h = sha256(b)
  const wrong = await put(h, b, putToken(h, b.length + 1))
  t.equal(wrong.status, 422)
  t.equal(wrong.json().error.code, 'XC_SIZE_MISMATCH')

  // Chunked: no Content-Length at all.
  const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: host.port, method: 'PUT', path: `/shards/${h}`, agent: host.agent, headers: { authorization: `XC-Token ${putToken(h, b.length)}`, 'transfer-encoding': 'chunked' } },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      },
    )
    req.on('error', reject)
    req.write(b.subarray(0, 500))
    req.end(b.subarray(500))
  })
  t.equal(r.status, 411)
  t.equal(JSON.parse(r.body).error.code, 'XC_LENGTH_REQUIRED')
})

t.test('unknown routes', async (t) => {
  for (const [method, path] of [['GET', '/'], ['GET', '/nope'], ['POST', '/shards/' + hash], ['DELETE', '/shards/' + hash], ['GET', '/shards']]) {
    const r = await request(host, { method: method!, path: path! })
    t.equal(r.status, 404, `${method} ${path}`)
    t.equal(r.json().error.code, 'XC_ROUTE_NOT_FOUND')
  }
})

t.test('oversized headers are refused, not a crash', async (t) => {
  const r = await request(host, { method: 'GET', path: '/ping', headers: { 'x-big': 'a'.repeat(32 * 1024) } })
  t.equal(r.status, 400)
  t.equal(r.json().error.code, 'XC_BAD_REQUEST')
  t.equal((await request(host, { method: 'GET', path: '/ping' })).status, 200, 'still serving')
})

t.test('an aborted upload leaves no temp file and releases its reservation', async (t) => {
  const size = 2 * 1024 * 1024
  const b = randomBytes(size)
  const h = sha256(b)
  await new Promise<void>((resolve) => {
    const req = https.request({
      host: '127.0.0.1',
      port: host.port,
      method: 'PUT',
      path: `/shards/${h}`,
      agent: false,
      ca: host.certPem,
      checkServerIdentity: () => undefined,
      headers: { authorization: `XC-Token ${putToken(h, size)}`, 'content-length': size, 'content-type': 'application/octet-stream' },
    })
    req.on('error', () => resolve())
    req.write(b.subarray(0, 700_000), () => setTimeout(() => req.destroy(), 300))
  })
  // The host notices the reset asynchronously.
  let left: string[] = []
  for (let i = 0; i < 50; i++) {
    left = await readdir(join(host.dir, 'tmp'))
    if (left.length === 0) break
    await new Promise((r) => setTimeout(r, 100))
  }
  t.same(left, [], 'no temp file left')
  t.equal((await get(h, getToken(h))).status, 404)
  const ok = await put(h, b, putToken(h, size))
  t.equal(ok.status, 201, 'the same shard can be uploaded afterwards')
})

t.test('the host serves what is on disk (clients verify)', async (t) => {
  const b = randomBytes(5000)
  const h = sha256(b)
  t.equal((await put(h, b, putToken(h, b.length))).status, 201)
  const corrupt = randomBytes(5000)
  await writeFile(join(host.dir, 'shards', h.slice(0, 2), h.slice(2, 4), h), corrupt)
  const g = await get(h, getToken(h))
  t.equal(g.status, 200)
  t.ok(g.body.equals(corrupt))
})

t.test('status reports the folder', async (t) => {
  const r = await runXcore(['status', '--data', host.dir, '--json'])
  t.equal(r.code, 0, r.stderr)
  const s = JSON.parse(r.stdout)
  t.equal(s.hostId, host.hostId)
  t.equal(s.url, host.url)
  t.ok(s.shards >= 5)
  t.ok(s.used > shard.length)
})

t.test('clients pin the certificate: another fingerprint is refused', async (t) => {
  const wrong = pinnedAgent(host.certPem, host.fingerprint.replace(/^../, host.fingerprint.startsWith('00') ? '11' : '00'))
  t.teardown(() => wrong.destroy())
  await t.rejects(request({ port: host.port, agent: wrong }, { method: 'GET', path: '/ping' }), /not the pinned/)
  const untrusted = new https.Agent({ checkServerIdentity: () => undefined })
  t.teardown(() => untrusted.destroy())
  await t.rejects(request({ port: host.port, agent: untrusted }, { method: 'GET', path: '/ping' }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
})

t.test('an empty shard round-trips', async (t) => {
  const b = Buffer.alloc(0)
  const h = sha256(b)
  const r = await put(h, b, putToken(h, 0))
  t.equal(r.status, 201, r.body.toString())
  const g = await get(h, getToken(h))
  t.equal(g.status, 200)
  t.equal(g.headers['content-length'], '0')
  t.equal(g.body.length, 0)
  t.equal((await get(h, getToken(h), { range: 'bytes=0-' })).status, 416)
})

t.test('a client that stops reading a download does not hurt the host', async (t) => {
  await new Promise<void>((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port: host.port, path: `/shards/${hash}`, agent: false, ca: host.certPem, checkServerIdentity: () => undefined, headers: { authorization: `XC-Token ${getToken(hash)}` } },
      (res) => {
        res.once('data', () => {
          res.destroy()
          resolve()
        })
      },
    )
    req.on('error', () => resolve())
    req.end()
  })
  const g = await get(hash, getToken(hash))
  t.equal(g.status, 200)
  t.ok(g.body.equals(shard))
})
