// Shard uploads on connections that negotiated SHARD_PUT_ALPN (src/host/routes/shard-uploads.ts):
// the same answers as the PUT route, through Node's https client (as clients send them) and
// through a raw TLS socket for what a well-behaved client never does.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import tls from 'node:tls'
import { SHARD_PUT_ALPN } from '../../src/shared/protocol.js'
import { generateSigningKeys, publicKeyObject, verifyReceipt } from '../../src/shared/tokens.js'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { initHostDir, pinnedAgent, request, serveHost, sha256, type ServedHost } from './helpers/host-process.js'

const bridge = await startFakeBridge()
t.teardown(() => bridge.close())
const inited = await initHostDir(t, bridge.url)
const served = await serveHost(t, inited)
const agent = pinnedAgent(served.certPem, served.fingerprint, [SHARD_PUT_ALPN, 'http/1.1'])
t.teardown(() => agent.destroy())
const host: ServedHost = { ...served, agent }
const hostPub = publicKeyObject(JSON.parse(await readFile(join(inited.dir, 'config.json'), 'utf8')).publicKey)

const putToken = (h: string, size: number, over: Partial<{ host: string; exp: number }> = {}): string => bridge.token({ op: 'put', h, host: host.hostId, size, ...over })
const put = (h: string, body: Buffer, token: string | undefined, headers: Record<string, string | number> = {}) =>
  request(host, { method: 'PUT', path: `/shards/${h}`, headers: { 'content-length': body.length, ...(token ? { authorization: `XC-Token ${token}` } : {}), ...headers }, body })
const get = (h: string) => request(served, { method: 'GET', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'get', h, host: host.hostId })}` } })
const used = async (): Promise<number> => (await request(served, { method: 'GET', path: '/ping' })).json().used

/** Whether the agent's pooled connections negotiated the protocol (else the test proves nothing). */
function negotiated(): string[] {
  const sockets = Object.values(agent.freeSockets).flat() as tls.TLSSocket[]
  return sockets.map((s) => String(s.alpnProtocol))
}

t.test('a client offering the protocol gets it; receipts and bytes as on the route', async (t) => {
  const b = randomBytes(2 * 1024 * 1024 - 11)
  const h = sha256(b)
  const r = await put(h, b, putToken(h, b.length))
  t.equal(r.status, 201, r.body.toString())
  t.match(r.json(), { v: 1, host: host.hostId, h, size: b.length })
  t.ok(verifyReceipt(hostPub, r.json()))
  t.same(negotiated(), [SHARD_PUT_ALPN], 'the connection is a shard-upload one')
  t.ok((await get(h)).body.equals(b), 'stored bytes read back')
  const again = await put(h, b, putToken(h, b.length))
  t.equal(again.status, 200, 'idempotent, on the same connection')
  t.same(negotiated(), [SHARD_PUT_ALPN])
  const bad = Buffer.from(b)
  bad[12345]! ^= 1
  const r3 = await put(h, bad, putToken(h, b.length))
  t.equal(r3.json().error.code, 'XC_HASH_MISMATCH', 'garbage for a shard already held is refused')
  t.equal(await used(), b.length)

  const empty = Buffer.alloc(0)
  const e = await put(sha256(empty), empty, putToken(sha256(empty), 0))
  t.equal(e.status, 201, 'an empty shard')
})

t.test('refusals answer the route\'s codes and keep the connection', async (t) => {
  const b = randomBytes(300_000)
  const h = sha256(b)
  const other = sha256(randomBytes(10))
  const cases: Array<[string, () => ReturnType<typeof put>, number, string]> = [
    ['missing token', () => put(h, b, undefined), 401, 'XC_TOKEN_MISSING'],
    ['forged token', () => put(h, b, bridge.token({ op: 'put', h, host: host.hostId, size: b.length }, generateSigningKeys())), 401, 'XC_TOKEN_INVALID'],
    ['expired token', () => put(h, b, putToken(h, b.length, { exp: Date.now() - 1000 })), 401, 'XC_TOKEN_EXPIRED'],
    ['token for another shard', () => put(h, b, putToken(other, b.length)), 403, 'XC_TOKEN_SCOPE'],
    ['token for another host', () => put(h, b, putToken(h, b.length, { host: 'ab'.repeat(32) })), 403, 'XC_TOKEN_SCOPE'],
    ['get token', () => put(h, b, bridge.token({ op: 'get', h, host: host.hostId })), 403, 'XC_TOKEN_SCOPE'],
    ['malformed Authorization', () => put(h, b, undefined, { authorization: 'Bearer x' }), 401, 'XC_TOKEN_INVALID'],
    ['size differs from the token', () => put(h, b, putToken(h, b.length + 1)), 422, 'XC_SIZE_MISMATCH'],
    ['bytes that do not match the hash', () => put(other, b, putToken(other, b.length)), 422, 'XC_HASH_MISMATCH'],
    ['upper-case hash', () => put(h.toUpperCase(), b, putToken(h, b.length)), 400, 'XC_BAD_HASH'],
    ['traversal', () => put('..%2F..%2Fconfig.json', b, putToken(h, b.length)), 400, 'XC_BAD_HASH'],
  ]
  for (const [name, send, status, code] of cases) {
    const r = await send()
    t.equal(r.status, status, name)
    t.equal(r.json().error.code, code, name)
    t.same(negotiated(), [SHARD_PUT_ALPN], `${name}: the same connection goes on`)
  }
  t.equal((await get(h)).status, 404, 'nothing stored by the refused puts')
  t.equal((await get(other)).status, 404)
  t.same(await readdir(join(host.dir, 'tmp')), [], 'no temp file left')
  t.equal((await put(h, b, putToken(h, b.length))).status, 201, 'and the next put on it works')
})

t.test('capacity is enforced, and an upload cut mid-body gives its reservation back', async (t) => {
  const small = await serveHost(t, await initHostDir(t, bridge.url, ['--capacity', '5MB']))
  const a = pinnedAgent(small.certPem, small.fingerprint, [SHARD_PUT_ALPN, 'http/1.1'])
  t.teardown(() => a.destroy())
  const send = (b: Buffer, h = sha256(b)) =>
    request({ port: small.port, agent: a }, { method: 'PUT', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'put', h, host: small.hostId, size: b.length })}`, 'content-length': b.length }, body: b })
  const big = randomBytes(2 * 1024 * 1024)
  const h = sha256(big)
  // Cut after 1 MiB: nothing stored, the 2 MiB it reserved are free again.
  await new Promise<void>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: small.port, ca: small.certPem, checkServerIdentity: () => undefined, ALPNProtocols: [SHARD_PUT_ALPN] }, () => {
      s.write(`PUT /shards/${h} HTTP/1.1\r\nauthorization: XC-Token ${bridge.token({ op: 'put', h, host: small.hostId, size: big.length })}\r\ncontent-length: ${big.length}\r\n\r\n`)
      s.write(big.subarray(0, 1024 * 1024), () => setTimeout(() => { s.destroy(); resolve() }, 200))
    })
    s.on('error', () => resolve())
  })
  await new Promise((r) => setTimeout(r, 300))
  t.same(await readdir(join(small.dir, 'tmp')), [], 'no temp file')
  // 5 MB: two more 2 MiB shards fit only if the cut upload's reservation came back.
  t.equal((await send(randomBytes(2 * 1024 * 1024))).status, 201)
  t.equal((await send(randomBytes(2 * 1024 * 1024))).status, 201)
  const over = await send(big)
  t.equal(over.status, 507, 'the cut shard does not fit any more')
  t.equal(over.json().error.code, 'XC_CAPACITY')
  const sockets = Object.values(a.freeSockets).flat() as tls.TLSSocket[]
  t.equal(sockets.length, 1, 'the refused body was read and dropped; the connection goes on')
  t.equal(sockets[0]?.alpnProtocol, SHARD_PUT_ALPN)
})

/** Open a raw shard-upload connection. */
async function raw(): Promise<{ s: tls.TLSSocket; responses(n: number): Promise<Array<{ status: number; json: any; close: boolean }>>; closed: Promise<void> }> {
  const s = tls.connect({ host: '127.0.0.1', port: host.port, ca: host.certPem, checkServerIdentity: () => undefined, ALPNProtocols: [SHARD_PUT_ALPN] })
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', resolve); s.once('error', reject) })
  if (s.alpnProtocol !== SHARD_PUT_ALPN) throw new Error(`negotiated ${String(s.alpnProtocol)}, not ${SHARD_PUT_ALPN}`)
  let buf = Buffer.alloc(0)
  const parsed: Array<{ status: number; json: any; close: boolean }> = []
  const waiters: Array<() => void> = []
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    for (;;) {
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) break
      const head = buf.subarray(0, end).toString('latin1')
      const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
      if (buf.length < end + 4 + len) break
      const status = Number(head.split(' ')[1])
      if (status !== 100) parsed.push({ status, json: JSON.parse(buf.subarray(end + 4, end + 4 + len).toString()), close: /connection: close/i.test(head) })
      buf = buf.subarray(end + 4 + len)
    }
    waiters.splice(0).forEach((w) => w())
  })
  s.on('error', () => {})
  const closed = new Promise<void>((resolve) => s.on('close', () => resolve()))
  return {
    s,
    closed,
    responses: async (n) => {
      while (parsed.length < n) await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 100) })
      return parsed.slice(0, n)
    },
  }
}

const headOf = (h: string, size: number, extra = ''): string => `PUT /shards/${h} HTTP/1.1\r\nhost: x\r\nauthorization: XC-Token ${putToken(h, size)}\r\ncontent-length: ${size}\r\n${extra}\r\n`

t.test('raw: pipelined requests in one write, bodies split anywhere, Expect', async (t) => {
  const a = randomBytes(70_000)
  const b = randomBytes(1)
  const c = randomBytes(1_000_000)
  const { s, responses } = await raw()
  // Two whole requests in one write: the second head lands behind the first body.
  s.write(Buffer.concat([Buffer.from(headOf(sha256(a), a.length)), a, Buffer.from(headOf(sha256(b), b.length)), b]))
  // A head split mid-line, a body in uneven pieces with pauses, and Expect: 100-continue.
  const head = headOf(sha256(c), c.length, 'expect: 100-continue\r\n')
  s.write(head.slice(0, 7))
  await new Promise((r) => setTimeout(r, 50))
  s.write(head.slice(7))
  for (const [from, to] of [[0, 1], [1, 16_385], [16_385, 500_000], [500_000, c.length]] as const) {
    s.write(c.subarray(from, to))
    await new Promise((r) => setTimeout(r, 20))
  }
  const r = await responses(3)
  t.same(r.map((x) => x.status), [201, 201, 201])
  t.same(r.map((x) => x.json.h), [sha256(a), sha256(b), sha256(c)], 'answers in request order')
  for (const x of [a, b, c]) t.ok((await get(sha256(x))).body.equals(x))
  s.destroy()
})

t.test('raw: many connections with heads and bodies arriving interleaved keep their bytes apart', async (t) => {
  const n = 16
  const conns = await Promise.all(Array.from({ length: n }, () => raw()))
  const bodies = Array.from({ length: n }, (_, i) => randomBytes(100_000 + i * 7919))
  const heads = bodies.map((b) => headOf(sha256(b), b.length))
  // Every connection's head in two halves, then its body in two halves, round-robin.
  for (const part of [0, 1, 2, 3]) {
    for (let i = 0; i < n; i++) {
      const h = heads[i]!
      const b = bodies[i]!
      const piece = part === 0 ? h.slice(0, 20) : part === 1 ? h.slice(20) : part === 2 ? b.subarray(0, 33_333) : b.subarray(33_333)
      conns[i]!.s.write(piece)
    }
    await new Promise((r) => setTimeout(r, 30))
  }
  for (let i = 0; i < n; i++) {
    const [r] = await conns[i]!.responses(1)
    t.equal(r!.status, 201, `connection ${i}`)
    t.equal(r!.json.h, sha256(bodies[i]!))
    conns[i]!.s.destroy()
  }
  for (const b of bodies) t.ok((await get(sha256(b))).body.equals(b))
})

t.test('raw: what is not a shard PUT is answered XC_BAD_REQUEST and the connection closes', async (t) => {
  const cases: Array<[string, string | Buffer, number, string]> = [
    ['a GET', 'GET /ping HTTP/1.1\r\nhost: x\r\n\r\n', 400, 'XC_BAD_REQUEST'],
    ['another path', `PUT /orders HTTP/1.1\r\ncontent-length: 0\r\n\r\n`, 400, 'XC_BAD_REQUEST'],
    ['garbage', 'hello there\r\n\r\n', 400, 'XC_BAD_REQUEST'],
    ['a header line without a colon', `PUT /shards/${'a'.repeat(64)} HTTP/1.1\r\nbroken\r\n\r\n`, 400, 'XC_BAD_REQUEST'],
    ['Content-Length twice', `PUT /shards/${'a'.repeat(64)} HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\nx`, 400, 'XC_BAD_REQUEST'],
    ['a negative Content-Length', `PUT /shards/${'a'.repeat(64)} HTTP/1.1\r\ncontent-length: -1\r\n\r\n`, 400, 'XC_BAD_REQUEST'],
    ['no Content-Length', `PUT /shards/${'a'.repeat(64)} HTTP/1.1\r\nauthorization: XC-Token x\r\n\r\n`, 401, 'XC_TOKEN_INVALID'],
    ['chunked', `PUT /shards/${'a'.repeat(64)} HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n`, 411, 'XC_LENGTH_REQUIRED'],
    ['a head over 16 KiB', `PUT /shards/${'a'.repeat(64)} HTTP/1.1\r\nx-big: ${'a'.repeat(20_000)}`, 400, 'XC_BAD_REQUEST'],
  ]
  for (const [name, bytes, status, code] of cases) {
    const { s, responses, closed } = await raw()
    s.write(bytes)
    const [r] = await responses(1)
    t.equal(r!.status, status, name)
    t.equal(r!.json.error.code, code, name)
    t.ok(r!.close, `${name}: connection: close`)
    await closed
  }
  // A body of unknown length cannot be skipped: a refusal without Content-Length closes too.
  const h = sha256(randomBytes(10))
  const { s, responses, closed } = await raw()
  s.write(`PUT /shards/${h} HTTP/1.1\r\nauthorization: XC-Token ${putToken(h, 10)}\r\n\r\n`)
  const [r] = await responses(1)
  t.equal(r!.json.error.code, 'XC_LENGTH_REQUIRED')
  t.ok(r!.close)
  await closed
  t.equal((await request(served, { method: 'GET', path: '/ping' })).status, 200, 'the host still serves')
})

t.test('raw: a client that sends requests and never reads the answers does not pile them up in the host', async (t) => {
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${host.proc.pid}/status`, 'utf8'))![1]) * 1024
  const { s } = await raw()
  s.pause()
  const before = rss()
  // 300,000 requests refused before any body (no token): about 24 MB in, 75 MB of answers.
  const one = Buffer.from(`PUT /shards/${'a'.repeat(64)} HTTP/1.1\r\ncontent-length: 0\r\n\r\n`)
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => one))
  for (let i = 0; i < 300; i++) s.write(batch)
  await new Promise((r) => setTimeout(r, 3000))
  const grown = rss() - before
  t.ok(grown < 32 * 1024 * 1024, `host memory grew ${(grown / 1048576).toFixed(1)} MiB while the answers went unread`)
  s.destroy()
  t.equal((await request(served, { method: 'GET', path: '/ping' })).status, 200, 'the host still serves')
})

t.test('the receive rate limit holds on these connections too', async (t) => {
  const limited = await serveHost(t, await initHostDir(t, bridge.url, ['--max-download-rate', '4MB/s']))
  const a = pinnedAgent(limited.certPem, limited.fingerprint, [SHARD_PUT_ALPN, 'http/1.1'])
  t.teardown(() => a.destroy())
  const shards = Array.from({ length: 4 }, () => randomBytes(2 * 1024 * 1024))
  const start = performance.now()
  await Promise.all(shards.map(async (b) => {
    const h = sha256(b)
    const r = await request({ port: limited.port, agent: a }, { method: 'PUT', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'put', h, host: limited.hostId, size: b.length })}`, 'content-length': b.length }, body: b })
    t.equal(r.status, 201)
  }))
  const secs = (performance.now() - start) / 1000
  const ideal = (8 * 1024 * 1024) / 4e6
  const sockets = Object.values(a.freeSockets).flat() as tls.TLSSocket[]
  t.ok(sockets.length > 0 && sockets.every((s) => s.alpnProtocol === SHARD_PUT_ALPN), 'over shard-upload connections')
  t.ok(secs >= ideal * 0.7, `8 MiB at 4 MB/s took ${secs.toFixed(2)} s (ideal ${ideal.toFixed(2)} s)`)
  t.ok(secs < ideal * 2 + 1, 'and not far longer')
})

t.test('SIGTERM: an idle shard-upload connection does not hold the host, one in flight finishes', async (t) => {
  const h2 = await serveHost(t, await initHostDir(t, bridge.url, ['--max-download-rate', '1MB/s']))
  const a = pinnedAgent(h2.certPem, h2.fingerprint, [SHARD_PUT_ALPN, 'http/1.1'])
  t.teardown(() => a.destroy())
  const send = (b: Buffer) => {
    const h = sha256(b)
    return request({ port: h2.port, agent: a }, { method: 'PUT', path: `/shards/${h}`, headers: { authorization: `XC-Token ${bridge.token({ op: 'put', h, host: h2.hostId, size: b.length })}`, 'content-length': b.length }, body: b })
  }
  t.equal((await send(randomBytes(1000))).status, 201, 'one idle connection in the pool')
  const inFlight = send(randomBytes(1024 * 1024))
  await new Promise((r) => setTimeout(r, 300))
  const start = Date.now()
  h2.proc.kill('SIGTERM')
  t.equal((await inFlight).status, 201, 'the upload in flight completed')
  t.equal(await h2.exited, 0)
  t.ok(Date.now() - start < 4500, `exited in ${Date.now() - start} ms, before the close grace ran out`)
})

t.test('the host picks AES-128-GCM for TLS 1.3, and still talks to a client that offers only AES-256', async (t) => {
  const connect = (ciphers?: string): Promise<tls.TLSSocket> => new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: Number(new URL(host.url).port), ca: host.certPem, checkServerIdentity: () => undefined, ...(ciphers ? { ciphers } : {}) })
    s.once('secureConnect', () => resolve(s))
    s.once('error', reject)
  })
  const first = await connect()
  t.same([first.getProtocol(), first.getCipher().name], ['TLSv1.3', 'TLS_AES_128_GCM_SHA256'], 'with Node\'s default order, which puts AES-256 first')
  first.destroy()
  const only256 = await connect('TLS_AES_256_GCM_SHA384')
  t.equal(only256.getCipher().name, 'TLS_AES_256_GCM_SHA384')
  only256.destroy()
  const chachaFirst = await connect('TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256')
  t.equal(chachaFirst.getCipher().name, 'TLS_CHACHA20_POLY1305_SHA256', 'a client that lists ChaCha20 first (no AES instructions) keeps it')
  chachaFirst.destroy()
  const { hostCiphers } = await import('../../src/host/server.js')
  t.equal(hostCiphers('TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256'), 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES128-GCM-SHA256')
  t.equal(hostCiphers('TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES128-GCM-SHA256'), 'TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES128-GCM-SHA256', 'a list without it (--tls-cipher-list) stays as the owner set it')
})
