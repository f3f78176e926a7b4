/**
 * POST /orders on real host processes: audits answer the right digests, every kind of bad order is
 * refused with its own 4xx code, delete orders honour their issue time, and replicate copies a
 * shard from a second host over pinned HTTPS (and refuses wrong bytes, storing nothing).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { join } from 'node:path'
import { challengeDigest } from '../../src/shared/orders.js'
import { generateSigningKeys, publicKeyObject, verifyReceipt, type Receipt } from '../../src/shared/tokens.js'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { contactOf, getShard, initHostDir, postOrder, putShard, request, runXcore, serveHost, sha256, waitFor } from './helpers/host-process.js'

const bridge = await startFakeBridge()
t.teardown(() => bridge.close())
const a = await serveHost(t, await initHostDir(t, bridge.url), ['--heartbeat', '200ms'])
const b = await serveHost(t, await initHostDir(t, bridge.url))
const pubOf = async (dir: string) => publicKeyObject(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).publicKey)
const salt = () => randomBytes(16).toString('base64url')
const ping = async () => (await request(a, { method: 'GET', path: '/ping' })).json() as { used: number }

t.test('audit answers SHA-256(salt ‖ shard) and the top-ups; null for a missing shard', async (t) => {
  const bytes = randomBytes(70_000)
  const hash = sha256(bytes)
  t.equal((await putShard(bridge, a, bytes)).status, 201)
  const [s, u1, u2] = [salt(), salt(), salt()]
  const r = await postOrder(a, bridge.order(a.hostId, { kind: 'audit', hash, salt: s, topUp: [u1, u2] }))
  t.equal(r.status, 200, r.body.toString())
  t.same(r.json(), { digest: challengeDigest(s, bytes), topUp: [challengeDigest(u1, bytes), challengeDigest(u2, bytes)] })

  const missing = await postOrder(a, bridge.order(a.hostId, { kind: 'audit', hash: sha256(randomBytes(8)), salt: s, topUp: [u1] }))
  t.equal(missing.status, 200)
  t.same(missing.json(), { digest: null, topUp: [] })

  // A rotted copy answers its true (failing) digest and mints no challenges for other mirrors.
  const rot = randomBytes(bytes.length)
  await writeFile(join(a.dir, 'shards', hash.slice(0, 2), hash.slice(2, 4), hash), rot)
  const rotted = await postOrder(a, bridge.order(a.hostId, { kind: 'audit', hash, salt: s, topUp: [u1] }))
  t.same(rotted.json(), { digest: challengeDigest(s, rot), topUp: [] })
  await writeFile(join(a.dir, 'shards', hash.slice(0, 2), hash.slice(2, 4), hash), bytes)
})

t.test('bad orders are refused with their code, never a 5xx', async (t) => {
  const hash = sha256(randomBytes(8))
  const body = { kind: 'audit' as const, hash, salt: salt(), topUp: [] }
  const replayed = bridge.order(a.hostId, body)
  t.equal((await postOrder(a, replayed)).status, 200, 'first time runs')
  const cases: Array<[string, string, number, string]> = [
    ['forged (another key)', bridge.order(a.hostId, body, { keys: generateSigningKeys() }), 401, 'XC_ORDER_INVALID'],
    ['expired', bridge.order(a.hostId, body, { now: Date.now() - 120_000, ttlMs: 60_000 }), 401, 'XC_ORDER_EXPIRED'],
    ['for another host', bridge.order(b.hostId, body), 403, 'XC_ORDER_SCOPE'],
    ['replayed', replayed, 409, 'XC_ORDER_REPLAYED'],
    ['issued before the host started', bridge.order(a.hostId, body, { now: Date.now() - 10 * 60_000, ttlMs: 60 * 60_000 }), 409, 'XC_ORDER_REPLAYED'],
    ['malformed fields', bridge.order(a.hostId, { kind: 'audit', hash: 'nope', salt: 'x', topUp: [] } as never), 401, 'XC_ORDER_INVALID'],
    ['unknown kind', bridge.order(a.hostId, { kind: 'format-disk' } as never), 401, 'XC_ORDER_INVALID'],
    ['not an order at all', 'abc.def', 401, 'XC_ORDER_INVALID'],
    ['tampered claims', replayed.replace(/^./, (c) => (c === 'e' ? 'f' : 'e')), 401, 'XC_ORDER_INVALID'],
  ]
  for (const [name, wire, status, code] of cases) {
    const r = await postOrder(a, wire)
    t.equal(r.status, status, name)
    t.equal(r.json().error.code, code, name)
  }
})

t.test('malformed and oversized bodies are 4xx', async (t) => {
  const post = (body: Buffer | string, headers: Record<string, string | number> = { 'content-type': 'application/json' }) => {
    const buf = Buffer.from(body)
    return request(a, { method: 'POST', path: '/orders', headers: { 'content-length': buf.length, ...headers }, body: buf })
  }
  const cases: Array<[string, Promise<{ status: number; json(): any }>, number, string]> = [
    ['not JSON', post('{"order": '), 400, 'XC_BAD_JSON'],
    ['empty', post(''), 400, 'XC_BAD_JSON'],
    ['no order field', post('{}'), 400, 'XC_BAD_REQUEST'],
    ['an array', post('[1]'), 400, 'XC_BAD_REQUEST'],
    ['order is not a string', post('{"order": 5}'), 400, 'XC_BAD_REQUEST'],
    ['JSON null', post('null'), 400, 'XC_BAD_REQUEST'],
    ['wrong content type', post('{"order":"a.b"}', { 'content-type': 'text/plain' }), 415, 'XC_UNSUPPORTED_MEDIA'],
    ['over 64 KiB', post(JSON.stringify({ order: 'a'.repeat(70_000) })), 413, 'XC_BODY_TOO_LARGE'],
  ]
  for (const [name, p, status, code] of cases) {
    const r = await p
    t.equal(r.status, status, name)
    t.equal(r.json().error.code, code, name)
  }
  // Without a Content-Length the cap still holds, counted as the bytes arrive.
  const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: a.port, method: 'POST', path: '/orders', agent: false, ca: a.certPem, checkServerIdentity: () => undefined, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      },
    )
    req.on('error', reject)
    for (let i = 0; i < 20; i++) req.write('x'.repeat(8192))
    req.end()
  })
  t.equal(chunked.status, 413)
  t.equal(JSON.parse(chunked.body).error.code, 'XC_BODY_TOO_LARGE')
  t.equal((await request(a, { method: 'GET', path: '/ping' })).status, 200, 'still serving')
})

t.test('an upload of a shard already held marks it stored again (mtime)', async (t) => {
  const bytes = randomBytes(5000)
  const file = join(a.dir, 'shards', sha256(bytes).slice(0, 2), sha256(bytes).slice(2, 4), sha256(bytes))
  t.equal((await putShard(bridge, a, bytes)).status, 201)
  const before = (await stat(file)).mtimeMs
  await new Promise((r) => setTimeout(r, 30))
  t.equal((await putShard(bridge, a, bytes)).status, 200)
  t.ok((await stat(file)).mtimeMs > before, 'mtime moved forward')
})

t.test('delete removes shards stored before the order, keeps one stored again after it', async (t) => {
  const x = randomBytes(10_000)
  const y = randomBytes(20_000)
  const gone = sha256(randomBytes(8))
  t.equal((await putShard(bridge, a, x)).status, 201)
  t.equal((await putShard(bridge, a, y)).status, 201)
  const usedBefore = (await ping()).used
  await new Promise((r) => setTimeout(r, 30))
  const wire = bridge.order(a.hostId, { kind: 'delete', hashes: [sha256(x), sha256(y), gone] })
  await new Promise((r) => setTimeout(r, 30))
  t.equal((await putShard(bridge, a, x)).status, 200, 're-uploaded after the order was issued')
  const r = await postOrder(a, wire)
  t.equal(r.status, 200, r.body.toString())
  t.same(r.json(), { deleted: [sha256(y), gone], kept: [sha256(x)] }, 'a shard that was not there counts as deleted')
  t.equal((await getShard(bridge, a, sha256(y))).status, 404)
  t.equal((await getShard(bridge, a, sha256(x))).status, 200)
  t.equal((await ping()).used, usedBefore - y.length, 'used counts the removal')
  // The shard count the host reports matches what is on disk.
  const s = JSON.parse((await runXcore(['status', '--data', a.dir, '--json'])).stdout)
  const n = bridge.heartbeats.length
  await waitFor('a heartbeat after the delete', () => bridge.heartbeats.length > n + 1)
  t.equal(bridge.heartbeats.at(-1)!.body.shards, s.shards, 'shard count stays right')
  t.equal(bridge.heartbeats.at(-1)!.body.used, s.used)
})

t.test('replicate copies a shard from another host and vouches for it', async (t) => {
  const bytes = randomBytes(300_000)
  const hash = sha256(bytes)
  t.equal((await putShard(bridge, b, bytes)).status, 201)
  const salts = [salt(), salt()]
  const usedBefore = (await ping()).used
  const order = () => bridge.order(a.hostId, { kind: 'replicate', hash, size: bytes.length, source: contactOf(b), token: bridge.token({ op: 'get', h: hash, host: b.hostId }), salts })
  const r = await postOrder(a, order())
  t.equal(r.status, 200, r.body.toString())
  const answer = r.json() as { receipt: Receipt; digests: string[] }
  t.match(answer.receipt, { v: 1, host: a.hostId, h: hash, size: bytes.length })
  t.ok(verifyReceipt(await pubOf(a.dir), answer.receipt), 'the receipt verifies against the host key')
  t.same(answer.digests, salts.map((s) => challengeDigest(s, bytes)))
  const g = await getShard(bridge, a, hash)
  t.equal(g.status, 200)
  t.ok(g.body.equals(bytes), 'the copy serves the same bytes')
  t.equal((await ping()).used, usedBefore + bytes.length)

  // Already held: answered again without a second copy.
  const again = await postOrder(a, order())
  t.equal(again.status, 200)
  t.ok(verifyReceipt(await pubOf(a.dir), again.json().receipt))
  t.equal((await ping()).used, usedBefore + bytes.length, 'stored once')
})

t.test('replicate refuses wrong bytes from the source and stores nothing', async (t) => {
  const bytes = randomBytes(100_000)
  const hash = sha256(bytes)
  t.equal((await putShard(bridge, b, bytes)).status, 201)
  // The source serves what is on its disk: make that garbage of the same size.
  await writeFile(join(b.dir, 'shards', hash.slice(0, 2), hash.slice(2, 4), hash), randomBytes(bytes.length))
  const usedBefore = (await ping()).used
  const r = await postOrder(a, bridge.order(a.hostId, { kind: 'replicate', hash, size: bytes.length, source: contactOf(b), token: bridge.token({ op: 'get', h: hash, host: b.hostId }), salts: [] }))
  t.equal(r.status, 422)
  t.equal(r.json().error.code, 'XC_HASH_MISMATCH')
  t.equal(r.json().error.details.source, b.hostId, 'the source is named, so the bridge blames it')
  t.equal((await getShard(bridge, a, hash)).status, 404)
  t.equal((await ping()).used, usedBefore)
  t.same(await readdir(join(a.dir, 'tmp')), [], 'no temp file left')

  // A size that differs from the order's is wrong bytes too.
  const c = randomBytes(1000)
  t.equal((await putShard(bridge, b, c)).status, 201)
  const short = await postOrder(a, bridge.order(a.hostId, { kind: 'replicate', hash: sha256(c), size: 2000, source: contactOf(b), token: bridge.token({ op: 'get', h: sha256(c), host: b.hostId }), salts: [] }))
  t.equal(short.json().error.code, 'XC_HASH_MISMATCH')
})

t.test('replicate reports the source failing as the source\'s error', async (t) => {
  const hash = sha256(randomBytes(8))
  const missing = await postOrder(a, bridge.order(a.hostId, { kind: 'replicate', hash, size: 8, source: contactOf(b), token: bridge.token({ op: 'get', h: hash, host: b.hostId }), salts: [] }))
  t.equal(missing.status, 404)
  t.match(missing.json().error, { code: 'XC_NOT_FOUND', details: { source: b.hostId } })

  const down = { ...contactOf(b), url: 'https://127.0.0.1:9' }
  const r = await postOrder(a, bridge.order(a.hostId, { kind: 'replicate', hash, size: 8, source: down, token: bridge.token({ op: 'get', h: hash, host: b.hostId }), salts: [] }))
  t.equal(r.status, 502)
  t.match(r.json().error, { code: 'XC_HOST_UNREACHABLE', details: { source: b.hostId } })
})

t.test('replicate respects capacity before fetching', async (t) => {
  const small = await serveHost(t, await initHostDir(t, bridge.url, []).then(async (h) => {
    t.equal((await runXcore(['config', '--data', h.dir, '--capacity', '100KB'])).code, 0)
    return h
  }))
  const bytes = randomBytes(150_000)
  const hash = sha256(bytes)
  t.equal((await putShard(bridge, b, bytes)).status, 201)
  const r = await postOrder(small, bridge.order(small.hostId, { kind: 'replicate', hash, size: bytes.length, source: contactOf(b), token: bridge.token({ op: 'get', h: hash, host: b.hostId }), salts: [] }))
  t.equal(r.status, 507)
  t.equal(r.json().error.code, 'XC_CAPACITY')
  t.equal((await getShard(bridge, small, hash)).status, 404)
})
