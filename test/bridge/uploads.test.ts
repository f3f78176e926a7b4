import t, { type Test } from 'tap'
import type { CommitRequest, PlaceResponse, TokensResponse } from '../../src/shared/protocol.js'
import { publicKeyObject, verifyTransferToken } from '../../src/shared/tokens.js'
import { listHosts, listShards, networkStats, openAdminStore } from '../../src/bridge/admin/admin.js'
import { announcedHosts, b64, hex, newUser, receiptsFor, shardRefs, startTestBridge, type FakeHost, type TestBridge, type TestUser } from './helpers.js'

async function setup(t: Test, hosts = 4, opts = {}) {
  const b = await startTestBridge(t, opts)
  const hs = await announcedHosts(t, b, hosts)
  const u = await newUser(b)
  const bridgeKey = publicKeyObject((await b.api('GET', '/v1/info')).body.publicKey)
  return { b, hs, u, bridgeKey }
}

const call = (b: TestBridge, u: TestUser, method: string, path: string, body?: unknown) =>
  b.api(method, path, { session: u.session, ...(body !== undefined ? { body } : {}) })

/** Upload `n` shards fully (placement, receipts from every target) and commit. */
async function uploadFile(b: TestBridge, u: TestUser, hs: FakeHost[], target: CommitRequest['target'], baseVersionId: string | null, n = 2) {
  const up = (await call(b, u, 'POST', '/v1/uploads')).body
  const shards = shardRefs(n)
  const placed: PlaceResponse = (await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/shards`, { shards })).body
  await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/receipts`, { receipts: receiptsFor(placed, hs) })
  return call(b, u, 'POST', `/v1/uploads/${up.uploadId}/commit`, {
    target, baseVersionId, size: n * 1024 * 1024, wrappedKey: b64(60), manifest: b64(200), shards,
  })
}

t.test('upload, receipts, commit, content, tokens', async (t) => {
  const { b, hs, u, bridgeKey } = await setup(t)
  const up = await call(b, u, 'POST', '/v1/uploads')
  t.equal(up.status, 200)
  t.match(up.body, { uploadId: /^[0-9a-f]{32}$/, mirrors: 3 })
  t.ok(Math.abs(up.body.expiresAt - Date.now() - 24 * 3600_000) < 60_000, '24 h upload')
  const id = up.body.uploadId

  const shards = shardRefs(5, 2 * 1024 * 1024)
  const pr = await call(b, u, 'POST', `/v1/uploads/${id}/shards`, { shards })
  t.equal(pr.status, 200)
  const placed: PlaceResponse = pr.body
  t.equal(placed.placements.length, 5)
  for (const [i, p] of placed.placements.entries()) {
    t.equal(p.hash, shards[i]!.hash)
    t.equal(new Set(p.targets.map((x) => x.hostId)).size, 3, 'three distinct hosts')
    for (const tg of p.targets) {
      const claims = verifyTransferToken(bridgeKey, tg.token, { op: 'put', hash: p.hash, host: tg.hostId })
      t.equal(claims.size, p.size)
      t.ok(claims.exp > Date.now() + 14 * 60_000)
      t.ok(placed.hosts[tg.hostId], 'contact for every host mentioned')
    }
  }
  const contact = Object.values(placed.hosts)[0]!
  const host = hs.find((h) => h.id === contact.id)!
  t.same(contact, { id: host.id, url: host.announce.url, fingerprint: host.announce.fingerprint, cert: host.announce.cert, region: 'eu' })

  // Asking again for the same shards keeps their targets.
  const again: PlaceResponse = (await call(b, u, 'POST', `/v1/uploads/${id}/shards`, { shards: shards.slice(0, 2) })).body
  const hostsOf = (pl: PlaceResponse['placements']) => pl.map((p) => p.targets.map((x) => x.hostId).sort())
  t.same(hostsOf(again.placements), hostsOf(placed.placements.slice(0, 2)))

  // Receipts for all but the last target of the last shard, plus forged ones.
  const receipts = receiptsFor(placed, hs)
  const last = receipts.pop()!
  const stranger = hs.find((h) => !placed.placements[0]!.targets.some((x) => x.hostId === h.id))!
  const forged = [
    { ...receipts[0]!, sig: receipts[1]!.sig },
    { ...hs.find((h) => h.id === last.host)!.receipt(last.h, last.size - 1) },
    stranger.receipt(placed.placements[0]!.hash, placed.placements[0]!.size),
    stranger.receipt(hex(32), 10),
  ]
  const rr = await call(b, u, 'POST', `/v1/uploads/${id}/receipts`, { receipts: [...receipts, ...forged] })
  t.equal(rr.status, 200)
  t.equal(rr.body.accepted, receipts.length)
  t.same(rr.body.rejected.map((r: { reason: string }) => r.reason), ['signature', 'size', 'not-placed', 'not-placed'])

  const name = hex(32)
  const commit = {
    target: { parentId: u.rootId, nameHash: name, encName: 'ZmlsZQ', encMeta: 'bWV0YQ' },
    baseVersionId: null, size: 10 * 1024 * 1024 - 7, wrappedKey: b64(60), manifest: b64(500), shards,
  }
  const incomplete = await call(b, u, 'POST', `/v1/uploads/${id}/commit`, commit)
  t.equal(incomplete.status, 409)
  t.equal(incomplete.body.error.code, 'XC_UPLOAD_INCOMPLETE')
  t.same(incomplete.body.error.details, { index: 4, hash: shards[4]!.hash, receipts: 2, needed: 3 })

  t.equal((await call(b, u, 'POST', `/v1/uploads/${id}/receipts`, { receipts: [last, last] })).body.accepted, 2, 'receipts are idempotent')
  const done = await call(b, u, 'POST', `/v1/uploads/${id}/commit`, commit)
  t.equal(done.status, 200)
  t.match(done.body, { versionId: /^[0-9a-f]{32}$/, node: { parentId: u.rootId, nameHash: name, kind: 'file', size: commit.size, encMeta: 'bWV0YQ', revision: 1 } })
  t.equal(done.body.node.versionId, done.body.versionId)

  const content = await call(b, u, 'GET', `/v1/nodes/${done.body.node.id}/content`)
  t.same(content.body, { nodeId: done.body.node.id, versionId: done.body.versionId, size: commit.size, wrappedKey: commit.wrappedKey, manifest: commit.manifest, shardCount: 5 })

  const tr = await call(b, u, 'POST', `/v1/versions/${done.body.versionId}/tokens`, { from: 1, count: 3 })
  t.equal(tr.status, 200)
  const tokens: TokensResponse = tr.body
  t.same(tokens.shards.map((s) => [s.index, s.hash, s.size]), [1, 2, 3].map((i) => [i, shards[i]!.hash, shards[i]!.size]))
  for (const s of tokens.shards) {
    t.same(s.mirrors.map((m) => m.hostId).sort(), placed.placements[s.index]!.targets.map((x) => x.hostId).sort(), 'every mirror listed')
    for (const m of s.mirrors) {
      verifyTransferToken(bridgeKey, m.token, { op: 'get', hash: s.hash, host: m.hostId })
      t.throws(() => verifyTransferToken(bridgeKey, m.token, { op: 'put', hash: s.hash, host: m.hostId }), { code: 'XC_TOKEN_SCOPE' })
      t.ok(tokens.hosts[m.hostId])
    }
  }
  t.same((await call(b, u, 'POST', `/v1/versions/${done.body.versionId}/tokens`, { from: 5, count: 10 })).body.shards, [], 'past the end')
  t.equal((await call(b, u, 'POST', `/v1/versions/${done.body.versionId}/tokens`, { from: 0, count: 513 })).status, 400, 'count is capped')

  const account = (await call(b, u, 'GET', '/v1/account')).body
  t.match(account, { usedBytes: commit.size, files: 1, networkCapacity: 4 * 10 * 1024 ** 3 })

  const store = openAdminStore(b.dir)
  t.teardown(() => store.close())
  const listed = listShards(store)
  t.equal(listed.length, 5)
  for (const s of listed) t.equal(s.hosts.length, 3, 'mirrors recorded from receipts')
  t.match(networkStats(store, Date.now(), 120_000), { users: 1, hosts: 4, hostsOnline: 4, shards: 5, shardsUnderTarget: 0, bytesStored: 15 * 2 * 1024 * 1024, files: 1, versions: 1 })
  t.equal(listHosts(store, Date.now(), 120_000).reduce((n, h) => n + h.shards, 0), 15)
})

t.test('compare-and-swap on versions, targets by node, dirs and empty files', async (t) => {
  const { b, hs, u } = await setup(t, 3)
  const name = hex(32)
  const target = { parentId: u.rootId, nameHash: name, encName: 'Zg' }
  const v1 = await uploadFile(b, u, hs, target, null)
  t.equal(v1.status, 200)
  const nodeId = v1.body.node.id

  const blind = await uploadFile(b, u, hs, target, null)
  t.equal(blind.status, 409, 'a second "new file" with that name conflicts')
  t.equal(blind.body.error.code, 'XC_CONFLICT')

  const v2 = await uploadFile(b, u, hs, target, v1.body.versionId)
  t.equal(v2.status, 200, 'a new version by name')
  t.equal(v2.body.node.id, nodeId)
  t.equal(v2.body.node.revision, 2)

  const stale = await uploadFile(b, u, hs, { nodeId }, v1.body.versionId)
  t.equal(stale.body.error.code, 'XC_CONFLICT', 'stale base version')
  t.same(stale.body.error.details, { currentVersionId: v2.body.versionId })
  const v3 = await uploadFile(b, u, hs, { nodeId }, v2.body.versionId)
  t.equal(v3.status, 200, 'a new version by node id')

  const content = (await call(b, u, 'GET', `/v1/nodes/${nodeId}/content`)).body
  t.equal(content.versionId, v3.body.versionId)
  const old = await call(b, u, 'POST', `/v1/versions/${v1.body.versionId}/tokens`, { from: 0, count: 2 })
  t.equal(old.body.shards.length, 2, 'old versions stay readable')

  const dir = (await call(b, u, 'POST', '/v1/tree/nodes', { parentId: u.rootId, nameHash: hex(32), encName: 'ZA', kind: 'dir' })).body
  t.equal((await uploadFile(b, u, hs, { parentId: u.rootId, nameHash: dir.nameHash, encName: 'ZA' }, null)).body.error.code, 'XC_IS_DIR')
  t.equal((await uploadFile(b, u, hs, { nodeId: dir.id }, null)).body.error.code, 'XC_IS_DIR')
  t.equal((await call(b, u, 'GET', `/v1/nodes/${dir.id}/content`)).body.error.code, 'XC_IS_DIR')
  t.equal((await uploadFile(b, u, hs, { parentId: hex(16), nameHash: hex(32), encName: 'ZA' }, null)).body.error.code, 'XC_NOT_FOUND')

  const touched = (await call(b, u, 'POST', '/v1/tree/nodes', { parentId: u.rootId, nameHash: hex(32), encName: 'ZQ', kind: 'file' })).body
  t.equal((await call(b, u, 'GET', `/v1/nodes/${touched.id}/content`)).body.error.code, 'XC_NOT_FOUND', 'a file without a version has no content')
  const up = (await call(b, u, 'POST', '/v1/uploads', { mirrors: 2 })).body
  t.equal(up.mirrors, 2)
  const empty = await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/commit`, { target: { nodeId: touched.id }, baseVersionId: null, size: 0, wrappedKey: b64(60), manifest: b64(40), shards: [] })
  t.equal(empty.status, 200, 'a 0-byte file has 0 shards')
  t.match((await call(b, u, 'GET', `/v1/nodes/${touched.id}/content`)).body, { size: 0, shardCount: 0 })

  const changes = (await call(b, u, 'GET', '/v1/tree/changes')).body.changes
  t.ok(changes.filter((c: { nodeId: string }) => c.nodeId === nodeId).length >= 3, 'each commit is in the change feed')
})

t.test('replace a failed target; not enough hosts; batch limits', async (t) => {
  const { b, hs, u, bridgeKey } = await setup(t, 4)
  const up = (await call(b, u, 'POST', '/v1/uploads')).body
  const [shard] = shardRefs(1)
  const placed: PlaceResponse = (await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/shards`, { shards: [shard] })).body
  const first = placed.placements[0]!.targets.map((x) => x.hostId)
  const failed = first[0]!
  const rep = await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/replace`, { hash: shard!.hash, failedHostIds: [failed] })
  t.equal(rep.status, 200)
  const target = rep.body.placements[0].targets
  t.equal(target.length, 1)
  const fresh = target[0].hostId
  t.notOk(first.includes(fresh), 'a host not already chosen for the shard')
  verifyTransferToken(bridgeKey, target[0].token, { op: 'put', hash: shard!.hash, host: fresh })
  t.ok(rep.body.hosts[fresh])
  const none = await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/replace`, { hash: shard!.hash, failedHostIds: [] })
  t.equal(none.status, 503, 'every host already has it')
  t.same(none.body.error, { code: 'XC_NOT_ENOUGH_HOSTS', message: none.body.error.message, details: { needed: 1, available: 0 } })
  t.equal((await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/replace`, { hash: hex(32), failedHostIds: [] })).status, 404, 'shard not in this upload')

  // The replacement's receipt completes the shard without the failed host.
  const byId = new Map(hs.map((h) => [h.id, h]))
  const receipts = [...first.slice(1), fresh].map((id) => byId.get(id)!.receipt(shard!.hash, shard!.size))
  t.equal((await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/receipts`, { receipts })).body.accepted, 3)
  const c = await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/commit`, { target: { parentId: u.rootId, nameHash: hex(32), encName: 'eA' }, baseVersionId: null, size: 5, wrappedKey: b64(60), manifest: b64(40), shards: [shard] })
  t.equal(c.status, 200)

  const wide = (await call(b, u, 'POST', '/v1/uploads', { mirrors: 5 })).body
  const fail = await call(b, u, 'POST', `/v1/uploads/${wide.uploadId}/shards`, { shards: shardRefs(1) })
  t.equal(fail.status, 503)
  t.equal(fail.body.error.code, 'XC_NOT_ENOUGH_HOSTS')
  t.same(fail.body.error.details, { needed: 5, available: 4 })
  t.equal((await call(b, u, 'POST', `/v1/uploads/${hex(16)}/shards`, { shards: shardRefs(1) })).status, 404, 'unknown upload')
  t.equal((await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/shards`, { shards: shardRefs(513) })).status, 400, 'batch is capped')
  t.equal((await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/shards`, { shards: [{ hash: hex(32), size: 2 * 1024 * 1024 + 1 }] })).status, 400, 'shard too large')
})

t.test('placement respects capacity and pending load across requests', async (t) => {
  const { b, u } = await setup(t, 0)
  await announcedHosts(t, b, 3, { capacity: 5 * 1024 * 1024 })
  const up = (await call(b, u, 'POST', '/v1/uploads')).body
  // Each host holds two 2 MiB shards; the third request finds them full of pending placements.
  t.equal((await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/shards`, { shards: shardRefs(2, 2 * 1024 * 1024) })).status, 200)
  const r = await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/shards`, { shards: shardRefs(1, 2 * 1024 * 1024) })
  t.equal(r.status, 503)
  t.equal(r.body.error.code, 'XC_NOT_ENOUGH_HOSTS')
})

t.test('isolation: uploads, versions and tokens of another user are 404', async (t) => {
  const { b, hs, u } = await setup(t, 3)
  const bob = await newUser(b)
  const v = await uploadFile(b, u, hs, { parentId: u.rootId, nameHash: hex(32), encName: 'eA' }, null)
  const up = (await call(b, u, 'POST', '/v1/uploads')).body
  const cases: [string, string, string, unknown?][] = [
    ['tokens', 'POST', `/v1/versions/${v.body.versionId}/tokens`, { from: 0, count: 1 }],
    ['content', 'GET', `/v1/nodes/${v.body.node.id}/content`],
    ['place', 'POST', `/v1/uploads/${up.uploadId}/shards`, { shards: shardRefs(1) }],
    ['receipts', 'POST', `/v1/uploads/${up.uploadId}/receipts`, { receipts: [] }],
    ['commit', 'POST', `/v1/uploads/${up.uploadId}/commit`, { target: { parentId: bob.rootId, nameHash: hex(32), encName: 'eA' }, baseVersionId: null, size: 0, wrappedKey: 'a', manifest: 'b', shards: [] }],
    ['commit onto her file', 'POST', `/v1/uploads/${(await call(b, bob, 'POST', '/v1/uploads')).body.uploadId}/commit`, { target: { nodeId: v.body.node.id }, baseVersionId: v.body.versionId, size: 0, wrappedKey: 'a', manifest: 'b', shards: [] }],
    ['report her shard', 'POST', '/v1/reports', { hostId: hs[0]!.id, hash: hex(32), reason: 'timeout' }],
  ]
  for (const [name, method, path, body] of cases) {
    const r = await call(b, bob, method, path, body)
    t.equal(r.status, 404, name)
    t.equal(r.body.error.code, 'XC_NOT_FOUND', name)
  }
  t.equal((await call(b, u, 'POST', `/v1/versions/${v.body.versionId}/tokens`, { from: 0, count: 1 })).status, 200, 'the owner still can')
})

t.test('reports lower a host and reorder mirrors', async (t) => {
  const { b, hs, u } = await setup(t, 4)
  const bob = await newUser(b)
  const v = await uploadFile(b, u, hs, { parentId: u.rootId, nameHash: hex(32), encName: 'eA' }, null, 1)
  const tok: TokensResponse = (await call(b, u, 'POST', `/v1/versions/${v.body.versionId}/tokens`, { from: 0, count: 1 })).body
  const shard = tok.shards[0]!
  const bad = shard.mirrors[0]!.hostId
  const r = await call(b, u, 'POST', '/v1/reports', { hostId: bad, hash: shard.hash, reason: 'mismatch' })
  t.equal(r.status, 204)
  t.equal((await call(b, u, 'POST', '/v1/reports', { hostId: bad, hash: shard.hash, reason: 'timeout' })).status, 204, 'a repeat is accepted, but counted once a day')
  const stranger = hs.find((h) => !shard.mirrors.some((m) => m.hostId === h.id))
  t.ok(stranger, 'one of the 4 hosts holds no mirror')
  if (stranger) t.equal((await call(b, u, 'POST', '/v1/reports', { hostId: stranger.id, hash: shard.hash, reason: 'mismatch' })).status, 404, 'a host that does not hold the shard')
  t.equal((await call(b, u, 'POST', '/v1/reports', { hostId: hex(32), hash: shard.hash, reason: 'error' })).status, 404, 'unknown host')
  t.equal((await call(b, u, 'POST', '/v1/reports', { hostId: bad, hash: hex(32), reason: 'error' })).status, 404, 'unknown shard')
  t.equal((await call(b, bob, 'POST', '/v1/reports', { hostId: bad, hash: shard.hash, reason: 'error' })).status, 404, "another user's shard")
  t.equal((await call(b, u, 'POST', '/v1/reports', { hostId: bad, hash: shard.hash, reason: 'bored' })).status, 400, 'unknown reason')
  t.equal((await b.api('POST', '/v1/reports', { body: { hostId: bad, hash: shard.hash, reason: 'error' } })).status, 401, 'needs a session')

  const store = openAdminStore(b.dir)
  t.teardown(() => store.close())
  const row = listHosts(store, Date.now(), 120_000).find((h) => h.id === bad)!
  t.equal(row.failures, 1)
  t.ok(row.reputation < 1, `reputation ${row.reputation}`)
  const after: TokensResponse = (await call(b, u, 'POST', `/v1/versions/${v.body.versionId}/tokens`, { from: 0, count: 1 })).body
  t.equal(after.shards[0]!.mirrors.at(-1)!.hostId, bad, 'the reported host comes last')
})

t.test('offline mirrors come after online ones', async (t) => {
  const { b, hs, u } = await setup(t, 3, { offlineAfterMs: 1500 })
  const v = await uploadFile(b, u, hs, { parentId: u.rootId, nameHash: hex(32), encName: 'eA' }, null, 1)
  await new Promise((r) => setTimeout(r, 1600))
  const alive = hs[2]!
  await alive.heartbeat()
  const tok: TokensResponse = (await call(b, u, 'POST', `/v1/versions/${v.body.versionId}/tokens`, { from: 0, count: 1 })).body
  t.equal(tok.shards[0]!.mirrors[0]!.hostId, alive.id)
  t.equal(tok.shards[0]!.mirrors.length, 3, 'offline mirrors are still listed')
  const up = (await call(b, u, 'POST', '/v1/uploads', { mirrors: 2 })).body
  const r = await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/shards`, { shards: shardRefs(1) })
  t.same(r.body.error.details, { needed: 2, available: 1 }, 'offline hosts get no placements')
})

t.test('a 4 GiB file: 2048 shards × 3 mirrors', async (t) => {
  const { b, hs, u, bridgeKey } = await setup(t, 8)
  const start = performance.now()
  const up = (await call(b, u, 'POST', '/v1/uploads')).body
  const shards = shardRefs(2048, 2 * 1024 * 1024)
  let receipts = 0
  for (let i = 0; i < shards.length; i += 512) {
    const placed: PlaceResponse = (await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/shards`, { shards: shards.slice(i, i + 512) })).body
    const r = await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/receipts`, { receipts: receiptsFor(placed, hs) })
    receipts += r.body.accepted
  }
  t.equal(receipts, 2048 * 3)
  const placedMs = performance.now() - start
  const c = await call(b, u, 'POST', `/v1/uploads/${up.uploadId}/commit`, { target: { parentId: u.rootId, nameHash: hex(32), encName: 'Ymln' }, baseVersionId: null, size: 4 * 1024 ** 3, wrappedKey: b64(60), manifest: b64(100_000), shards })
  t.equal(c.status, 200)
  const commitMs = performance.now() - start - placedMs
  const t0 = performance.now()
  let got = 0
  for (let from = 0; from < 2048; from += 512) {
    const tok: TokensResponse = (await call(b, u, 'POST', `/v1/versions/${c.body.versionId}/tokens`, { from, count: 512 })).body
    got += tok.shards.length
    if (from === 0) verifyTransferToken(bridgeKey, tok.shards[0]!.mirrors[0]!.token, { op: 'get', hash: shards[0]!.hash, host: tok.shards[0]!.mirrors[0]!.hostId })
  }
  t.equal(got, 2048)
  const tokensMs = performance.now() - t0
  t.comment(`place+receipts ${placedMs.toFixed(0)} ms, commit ${commitMs.toFixed(0)} ms, get tokens ${tokensMs.toFixed(0)} ms`)
  t.ok(placedMs + commitMs + tokensMs < 10_000, 'well within seconds')
})
