/**
 * The client's own HTTP/1.1 shard GETs against a TLS server that answers what each test scripts:
 * bodies land intact, connections are reused, and every way a host can misbehave ends in a stable
 * error code with the connection closed.
 */
import t from 'tap'
import type { Test } from 'tap'
import tls from 'node:tls'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createTlsIdentity } from '../../src/host/tls/cert.js'
import { closeShardConnections, getInto } from '../../src/client/transfer/shard-get.js'
import type { HostContact } from '../../src/shared/protocol.js'

const identity = createTlsIdentity('127.0.0.1')
const HASH = 'a'.repeat(64)

type Answer = (socket: tls.TLSSocket, request: string) => void

/** A TLS server that hands each complete request head to `answer` and counts connections. */
async function scriptedHost(t: Test, answer: Answer): Promise<{ host: HostContact; connections: () => number; requests: string[] }> {
  let connections = 0
  const requests: string[] = []
  const sockets = new Set<tls.TLSSocket>()
  const server = tls.createServer({ key: identity.keyPem, cert: identity.certPem }, (socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => { /* the client closed it */ })
    let pending = ''
    socket.on('data', (d: Buffer) => {
      pending += d.toString('latin1')
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end)
        pending = pending.slice(end + 4)
        requests.push(head)
        answer(socket, head)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  t.teardown(async () => {
    closeShardConnections()
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return {
    host: { id: 'f'.repeat(64), url: `https://127.0.0.1:${port}`, fingerprint: identity.fingerprint, cert: identity.certPem, region: 'test' },
    connections: () => connections,
    requests,
  }
}

function ok(body: Buffer): string {
  return `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${body.length}\r\n\r\n`
}

/** Headers and (part of) a body in one write. */
function okWith(body: Buffer, sent: Buffer = body): Buffer {
  return Buffer.concat([Buffer.from(ok(body), 'latin1'), sent])
}

function errorAnswer(status: number, code: string, message: string): string {
  const body = JSON.stringify({ error: { code, message } })
  return `HTTP/1.1 ${status} Err\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

async function rejectsWith(t: Test, p: Promise<unknown>, code: string, what: string): Promise<void> {
  await t.rejects(p, { code }, what)
}

t.test('bodies land byte-identical, on one reused connection, with the token and path sent', async (t) => {
  const bodies = [randomBytes(2 * 1024 * 1024), randomBytes(1), randomBytes(300_000)]
  let i = 0
  const h = await scriptedHost(t, (socket) => {
    const body = bodies[i++]!
    // Headers and body in pieces of odd sizes, the body's first bytes in the headers' record.
    socket.write(Buffer.concat([Buffer.from(ok(body)), body.subarray(0, 7)]))
    for (let off = 7; off < body.length; off += 100_003) socket.write(body.subarray(off, off + 100_003))
  })
  for (const body of bodies) {
    const dst = Buffer.alloc(body.length)
    const r = await getInto(h.host, 'tok.en-_1', HASH, dst)
    t.ok(dst.equals(body), `${body.length} bytes intact`)
    t.ok(r.firstByteMs >= 0)
  }
  t.equal(h.connections(), 1, 'one keep-alive connection for all three')
  t.match(h.requests[0], new RegExp(`^GET /shards/${HASH} HTTP/1\\.1\\r\\n`))
  t.match(h.requests[0], /\r\nauthorization: XC-Token tok\.en-_1(\r\n|$)/)
})

t.test('a host error answer becomes its XError and keeps the connection', async (t) => {
  let n = 0
  const body = randomBytes(1000)
  const h = await scriptedHost(t, (socket) => {
    socket.write(n++ === 0 ? errorAnswer(401, 'XC_TOKEN_EXPIRED', 'expired') : okWith(body))
  })
  await rejectsWith(t, getInto(h.host, 'x', HASH, Buffer.alloc(1000)), 'XC_TOKEN_EXPIRED', 'the host\'s code')
  const dst = Buffer.alloc(1000)
  await getInto(h.host, 'x', HASH, dst)
  t.ok(dst.equals(body))
  t.equal(h.connections(), 1, 'the error did not cost the connection')
})

t.test('misbehaving hosts get stable codes', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['wrong length', 'HTTP/1.1 200 OK\r\ncontent-length: 999\r\n\r\n', 'XC_SIZE_MISMATCH'],
    ['no length', 'HTTP/1.1 200 OK\r\n\r\nabc', 'XC_HOST_UNREACHABLE'],
    ['chunked', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'XC_HOST_UNREACHABLE'],
    ['two lengths', 'HTTP/1.1 200 OK\r\ncontent-length: 1000\r\ncontent-length: 10\r\n\r\n', 'XC_HOST_UNREACHABLE'],
    ['negative length', 'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', 'XC_HOST_UNREACHABLE'],
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n', 'XC_HOST_UNREACHABLE'],
    ['header line without a colon', 'HTTP/1.1 200 OK\r\ncontent-length 1000\r\n\r\n', 'XC_HOST_UNREACHABLE'],
    ['huge headers', `HTTP/1.1 200 OK\r\nx: ${'y'.repeat(20_000)}\r\n\r\n`, 'XC_HOST_UNREACHABLE'],
    ['huge error body', 'HTTP/1.1 500 Oops\r\ncontent-length: 10000000\r\n\r\n', 'XC_HOST_UNREACHABLE'],
    ['error without JSON', 'HTTP/1.1 404 Nope\r\ncontent-length: 5\r\n\r\nnope!', 'XC_BAD_REQUEST'],
  ]
  for (const [what, answer, code] of cases) {
    const h = await scriptedHost(t, (socket) => socket.write(answer))
    await rejectsWith(t, getInto(h.host, 'x', HASH, Buffer.alloc(1000)), code, what)
  }
})

t.test('a body cut short, a stall, a cancel: errors, and nothing written afterwards', async (t) => {
  const body = randomBytes(100_000)
  const cut = await scriptedHost(t, (socket) => socket.end(okWith(body, body.subarray(0, 5000))))
  await rejectsWith(t, getInto(cut.host, 'x', HASH, Buffer.alloc(body.length)), 'XC_HOST_UNREACHABLE', 'host closed mid-body')

  const stall = await scriptedHost(t, (socket) => socket.write(okWith(body, body.subarray(0, 5000))))
  await rejectsWith(t, getInto(stall.host, 'x', HASH, Buffer.alloc(body.length), { idleTimeoutMs: 200 }), 'XC_TIMEOUT', 'no byte for 200 ms')

  let late: tls.TLSSocket | undefined
  const slow = await scriptedHost(t, (socket) => { late = socket; socket.write(okWith(body, body.subarray(0, 5000))) })
  const ac = new AbortController()
  const dst = Buffer.alloc(body.length)
  const p = getInto(slow.host, 'x', HASH, dst, { signal: ac.signal })
  setTimeout(() => ac.abort(), 100)
  await rejectsWith(t, p, 'XC_TIMEOUT', 'cancelled')
  const snapshot = Buffer.from(dst)
  late?.write(body.subarray(5000))
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.ok(dst.equals(snapshot), 'the buffer is left alone after the rejection')
})

t.test('the pinned fingerprint is enforced', async (t) => {
  const h = await scriptedHost(t, (socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'))
  const other = createTlsIdentity('127.0.0.1')
  await rejectsWith(t, getInto({ ...h.host, fingerprint: other.fingerprint }, 'x', HASH, Buffer.alloc(0)), 'XC_TLS_PIN', 'another fingerprint')
  t.equal(h.requests.length, 0, 'no request reached the host')
})

t.test('a keep-alive connection the host closed while idle is replaced, once', async (t) => {
  const body = randomBytes(5000)
  let n = 0
  const h = await scriptedHost(t, (socket) => {
    // The first connection answers once and then dies without a word when asked again.
    if (n++ === 1) socket.destroy()
    else socket.write(okWith(body))
  })
  await getInto(h.host, 'x', HASH, Buffer.alloc(body.length))
  const dst = Buffer.alloc(body.length)
  await getInto(h.host, 'x', HASH, dst)
  t.ok(dst.equals(body), 'the second GET went through on a fresh connection')
  t.equal(h.connections(), 2)
})

t.test('bytes beyond the announced body fail the GET or close the connection', async (t) => {
  const body = randomBytes(100)
  const sameRecord = await scriptedHost(t, (socket) => socket.write(Buffer.concat([okWith(body), Buffer.from('EXTRA')])))
  await rejectsWith(t, getInto(sameRecord.host, 'x', HASH, Buffer.alloc(body.length)), 'XC_HOST_UNREACHABLE', 'overrun with the body')

  const h = await scriptedHost(t, (socket) => {
    socket.write(okWith(body))
    setTimeout(() => socket.write('EXTRA'), 30)
  })
  const dst = Buffer.alloc(body.length)
  await getInto(h.host, 'x', HASH, dst)
  t.ok(dst.equals(body), 'the body before the overrun is intact')
  await new Promise((resolve) => setTimeout(resolve, 100))
  await getInto(h.host, 'x', HASH, Buffer.alloc(body.length))
  t.equal(h.connections(), 2, 'the connection that overran later was not reused')
})

t.test('inputs that could smuggle a header are refused before any connection', async (t) => {
  const h = await scriptedHost(t, () => { /* never asked */ })
  await rejectsWith(t, getInto(h.host, 'x\r\nx-evil: 1', HASH, Buffer.alloc(1)), 'XC_TOKEN_INVALID', 'CRLF in a token')
  await rejectsWith(t, getInto(h.host, 'x', '../../etc/passwd', Buffer.alloc(1)), 'XC_BAD_HASH', 'a path for a hash')
  await rejectsWith(t, getInto({ ...h.host, url: 'http://127.0.0.1:1' }, 'x', HASH, Buffer.alloc(1)), 'XC_HOST_UNREACHABLE', 'plain http')
  t.equal(h.connections(), 0)
})
