import t from 'tap'
import { generateSigningKeys, privateKeyObject } from '../../src/shared/tokens.js'
import { announcedHosts, fakeHost, startTestBridge } from './helpers.js'
import { listHosts, openAdminStore } from '../../src/bridge/admin/admin.js'

const hostsOf = (dir: string, offlineAfterMs = 120_000) => {
  const store = openAdminStore(dir)
  try {
    return listHosts(store, Date.now(), offlineAfterMs)
  } finally {
    store.close()
  }
}

t.test('announce and heartbeat with valid signatures', async (t) => {
  const b = await startTestBridge(t)
  const h = fakeHost(b, { capacity: 5e9, used: 1e9, region: 'eu-west' })
  const r = await h.signed('/v1/hosts/announce', h.announce)
  t.equal(r.status, 200)
  t.same(r.body, { hostId: h.id, heartbeatMs: 30000, state: 'online' })
  const hb = await h.heartbeat({ used: 2e9 })
  t.equal(hb.status, 200)
  t.same(hb.body, { ok: true, state: 'online' })
  const [row] = hostsOf(b.dir)
  t.match(row, { id: h.id, url: h.announce.url, region: 'eu-west', capacity: 5e9, used: 2e9, free: 3e9, online: true, failures: 0, reputation: 1, shards: 0 })
  // Announcing again updates the registry in place.
  const again = await h.signed('/v1/hosts/announce', { ...h.announce, url: 'https://127.0.0.1:4443', capacity: 6e9 })
  t.equal(again.status, 200)
  t.match(hostsOf(b.dir), [{ id: h.id, url: 'https://127.0.0.1:4443', capacity: 6e9 }])
})

t.test('forged and malformed host requests are refused', async (t) => {
  const b = await startTestBridge(t)
  const [h] = await announcedHosts(t, b, 1)
  const other = privateKeyObject(generateSigningKeys().privateKey)
  const hbBody = { capacity: 1e9, used: 0, shards: 0, bytesIn: 0, bytesOut: 0, uptimeMs: 1 }
  const cases: [string, ReturnType<typeof h.signed>][] = [
    ['heartbeat signed by another key', h!.signed('/v1/hosts/heartbeat', hbBody, { sigKey: other })],
    ['body changed after signing', h!.signed('/v1/hosts/heartbeat', hbBody, { body: JSON.stringify({ ...hbBody, used: 5 }) })],
    ['stale timestamp', h!.signed('/v1/hosts/heartbeat', hbBody, { ts: Date.now() - 10 * 60_000 })],
    ['future timestamp', h!.signed('/v1/hosts/heartbeat', hbBody, { ts: Date.now() + 10 * 60_000 })],
    ['announce key of another id', h!.signed('/v1/hosts/announce', { ...h!.announce, publicKey: generateSigningKeys().publicKey })],
    ['announce signed by another key', h!.signed('/v1/hosts/announce', h!.announce, { sigKey: other })],
    ['malformed host id', h!.signed('/v1/hosts/announce', h!.announce, { id: 'abc' })],
  ]
  for (const [name, p] of cases) {
    const r = await p
    t.equal(r.status, 401, name)
    t.equal(r.body.error.code, 'XC_HOST_SIGNATURE', name)
  }
  const unsigned = await b.api('POST', '/v1/hosts/heartbeat', { body: hbBody })
  t.equal(unsigned.body.error.code, 'XC_HOST_SIGNATURE', 'no signature headers')
  const noSig = await b.api('POST', '/v1/hosts/heartbeat', { body: hbBody, headers: { 'x-xc-host': h!.id, 'x-xc-ts': String(Date.now()) } })
  t.equal(noSig.body.error.code, 'XC_HOST_SIGNATURE', 'no x-xc-sig')
  const stranger = fakeHost(b)
  const unknown = await stranger.heartbeat()
  t.equal(unknown.status, 404, 'heartbeat of a host that never announced')
  t.equal(unknown.body.error.code, 'XC_NOT_FOUND')
})

t.test('announce validates URL, certificate and fingerprint', async (t) => {
  const b = await startTestBridge(t)
  const h = fakeHost(b)
  const bad: [string, object][] = [
    ['fingerprint of another cert', { fingerprint: 'AB:'.repeat(31) + 'AB' }],
    ['not PEM', { cert: 'hello' }],
    ['PEM garbage', { cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }],
    ['plain http', { url: 'http://127.0.0.1:4000' }],
    ['not a URL', { url: 'not a url at all' }],
    ['URL with a path', { url: 'https://127.0.0.1:4000/x' }],
  ]
  for (const [name, patch] of bad) {
    const r = await h.signed('/v1/hosts/announce', { ...h.announce, ...patch })
    t.equal(r.status, 400, name)
    t.equal(r.body.error.code, 'XC_BAD_REQUEST', name)
  }
  const neg = await h.signed('/v1/hosts/announce', { ...h.announce, capacity: -1 })
  t.equal(neg.status, 400, 'negative capacity')
  t.same(hostsOf(b.dir), [], 'nothing was registered')
})

t.test('a host goes offline without heartbeats', async (t) => {
  const b = await startTestBridge(t, { offlineAfterMs: 300 })
  const [h] = await announcedHosts(t, b, 1)
  t.equal(hostsOf(b.dir, 300)[0]!.online, true)
  await new Promise((r) => setTimeout(r, 400))
  t.equal(hostsOf(b.dir, 300)[0]!.online, false)
  await h!.heartbeat()
  t.equal(hostsOf(b.dir, 300)[0]!.online, true, 'a heartbeat brings it back')
})
