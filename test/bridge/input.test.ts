/** Bad input of every kind is a clear 4xx with a stable code, never a 5xx. */
import t from 'tap'
import { MAX_JSON_BODY } from '../../src/shared/protocol.js'
import { hex, newUser, startTestBridge } from './helpers.js'

t.test('malformed bodies', async (t) => {
  const b = await startTestBridge(t)
  const u = await newUser(b)
  const s = u.session
  const expect = async (name: string, r: Promise<{ status: number; body: any }>, status: number, code: string) => {
    const res = await r
    t.equal(res.status, status, `${name}: status`)
    t.equal(res.body?.error?.code, code, `${name}: ${JSON.stringify(res.body)}`)
  }
  await expect('malformed JSON', b.api('POST', '/v1/tree/nodes', { session: s, body: '{"parentId":' }), 400, 'XC_BAD_JSON')
  await expect('JSON array instead of object', b.api('POST', '/v1/tree/nodes', { session: s, body: '[]' }), 400, 'XC_BAD_REQUEST')
  await expect('JSON null', b.api('POST', '/v1/tree/nodes', { session: s, body: 'null' }), 400, 'XC_BAD_REQUEST')
  await expect('proto poisoning', b.api('POST', '/v1/auth/login', { body: '{"__proto__":{"x":1},"email":"a@b.cd","authKey":"x"}' }), 400, 'XC_BAD_JSON')
  await expect('empty body', b.api('POST', '/v1/tree/nodes', { session: s, body: '' }), 400, 'XC_BAD_REQUEST')
  await expect('wrong content type', b.api('POST', '/v1/auth/login', { body: 'email=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'XC_UNSUPPORTED_MEDIA')
  await expect('wrong types', b.api('POST', '/v1/tree/nodes', { session: s, body: { parentId: u.rootId, nameHash: hex(32), encName: 'n', kind: 'file', encMeta: 7 } }), 400, 'XC_BAD_REQUEST')
  await expect('string for a number', b.api('POST', `/v1/tree/nodes/${u.rootId}/move`, { session: s, body: { parentId: u.rootId, nameHash: hex(32), encName: 'n', expectedRevision: '1' } }), 400, 'XC_BAD_REQUEST')
  await expect('unknown kind', b.api('POST', '/v1/tree/nodes', { session: s, body: { parentId: u.rootId, nameHash: hex(32), encName: 'n', kind: 'fifo' } }), 400, 'XC_BAD_REQUEST')
  await expect('unknown property', b.api('POST', '/v1/tree/nodes', { session: s, body: { parentId: u.rootId, nameHash: hex(32), encName: 'n', kind: 'dir', owner: 'me' } }), 400, 'XC_BAD_REQUEST')
  await expect('overlong string', b.api('POST', '/v1/tree/nodes', { session: s, body: { parentId: u.rootId, nameHash: hex(32), encName: 'n'.repeat(5000), kind: 'dir' } }), 400, 'XC_BAD_REQUEST')
  await expect('negative integer', b.api('POST', '/v1/uploads', { session: s, body: { mirrors: -1 } }), 400, 'XC_BAD_REQUEST')
  await expect('too many mirrors', b.api('POST', '/v1/uploads', { session: s, body: { mirrors: 9 } }), 400, 'XC_BAD_REQUEST')
  await expect('float', b.api('POST', '/v1/uploads', { session: s, body: { mirrors: 1.5 } }), 400, 'XC_BAD_REQUEST')
  const big = JSON.stringify({ parentId: u.rootId, nameHash: hex(32), encName: 'x'.repeat(MAX_JSON_BODY), kind: 'dir' })
  await expect('oversized body', b.api('POST', '/v1/tree/nodes', { session: s, body: big }), 413, 'XC_BODY_TOO_LARGE')
})

t.test('bad hashes, ids and query strings', async (t) => {
  const b = await startTestBridge(t)
  const u = await newUser(b)
  const s = u.session
  for (const nameHash of ['abc', 'G'.repeat(64), hex(32).toUpperCase(), hex(33)]) {
    const r = await b.api('POST', '/v1/tree/nodes', { session: s, body: { parentId: u.rootId, nameHash, encName: 'n', kind: 'dir' } })
    t.equal(r.status, 400)
    t.equal(r.body.error.code, 'XC_BAD_HASH', nameHash)
  }
  const up = await b.api('POST', '/v1/uploads', { session: s, body: {} })
  const bad = await b.api('POST', `/v1/uploads/${up.body.uploadId}/shards`, { session: s, body: { shards: [{ hash: 'zz', size: 1 }] } })
  t.equal(bad.body.error.code, 'XC_BAD_HASH')
  t.equal((await b.api('GET', '/v1/tree/nodes/not-an-id', { session: s })).status, 400)
  t.equal((await b.api('GET', `/v1/tree/nodes/${hex(16)}`, { session: s })).body.error.code, 'XC_NOT_FOUND', 'unknown id')
  t.equal((await b.api('GET', '/v1/tree/changes?since=-1', { session: s })).status, 400)
  t.equal((await b.api('GET', '/v1/tree/changes?since=abc', { session: s })).status, 400)
  t.equal((await b.api('GET', '/v1/tree/changes?since=1&since=2', { session: s })).status, 400)
  t.equal((await b.api('GET', '/v1/tree/changes?bogus=1', { session: s })).status, 400)
  t.equal((await b.api('GET', `/v1/tree/lookup?parentId=${u.rootId}&nameHash=xyz`, { session: s })).body.error.code, 'XC_BAD_HASH')
  t.equal((await b.api('DELETE', `/v1/tree/nodes/${u.rootId}?expectedRevision=x`, { session: s })).status, 400)
})

t.test('unknown routes and methods', async (t) => {
  const b = await startTestBridge(t)
  const r = await b.api('GET', '/v1/nope')
  t.equal(r.status, 404)
  t.equal(r.body.error.code, 'XC_ROUTE_NOT_FOUND')
  t.equal((await b.api('DELETE', '/v1/info')).body.error.code, 'XC_ROUTE_NOT_FOUND')
  t.equal((await b.api('GET', '/')).status, 404)
})

t.test('info', async (t) => {
  const b = await startTestBridge(t, { mirrors: 2 })
  const r = await b.api('GET', '/v1/info')
  t.equal(r.status, 200)
  t.match(r.body, { version: 1, mirrors: 2, publicKey: /^[A-Za-z0-9_-]{43}$/ })
})
