import t from 'tap'
import { hex, newUser, startTestBridge, type TestBridge, type TestUser } from './helpers.js'

function client(b: TestBridge, u: TestUser) {
  const call = (method: string, path: string, body?: unknown) => b.api(method, path, { session: u.session, ...(body !== undefined ? { body } : {}) })
  return {
    call,
    mk: async (parentId: string, kind: 'dir' | 'file' | 'symlink', nameHash = hex(32)) => {
      const r = await call('POST', '/v1/tree/nodes', { parentId, nameHash, encName: `name-${nameHash.slice(0, 6)}`, kind })
      if (r.status !== 201) throw new Error(JSON.stringify(r.body))
      return r.body
    },
    move: (id: string, parentId: string, nameHash: string, extra: object = {}) =>
      call('POST', `/v1/tree/nodes/${id}/move`, { parentId, nameHash, encName: 'moved', ...extra }),
  }
}

t.test('create, get, lookup, children, update, delete', async (t) => {
  const b = await startTestBridge(t)
  const u = await newUser(b)
  const c = client(b, u)
  const name = hex(32)
  const dir = await c.mk(u.rootId, 'dir', name)
  t.match(dir, { parentId: u.rootId, nameHash: name, kind: 'dir', encMeta: null, versionId: null, size: 0, revision: 1 })
  t.match(dir.id, /^[0-9a-f]{32}$/)
  t.same((await c.call('GET', `/v1/tree/nodes/${dir.id}`)).body, dir)
  t.same((await c.call('GET', `/v1/tree/lookup?parentId=${u.rootId}&nameHash=${name}`)).body, dir)
  t.equal((await c.call('GET', `/v1/tree/lookup?parentId=${u.rootId}&nameHash=${hex(32)}`)).body.error.code, 'XC_NOT_FOUND')

  const dup = await c.call('POST', '/v1/tree/nodes', { parentId: u.rootId, nameHash: name, encName: 'x', kind: 'file' })
  t.equal(dup.status, 409)
  t.equal(dup.body.error.code, 'XC_EXISTS')

  const file = await c.mk(dir.id, 'file')
  const link = await c.mk(dir.id, 'symlink')
  const kids = (await c.call('GET', `/v1/tree/nodes/${dir.id}/children`)).body.nodes
  t.same(kids.map((n: { id: string }) => n.id).sort(), [file.id, link.id].sort())
  t.equal((await c.call('GET', `/v1/tree/nodes/${file.id}/children`)).body.error.code, 'XC_NOT_DIR')
  t.equal((await c.call('POST', '/v1/tree/nodes', { parentId: file.id, nameHash: hex(32), encName: 'x', kind: 'file' })).body.error.code, 'XC_NOT_DIR')
  t.equal((await c.call('POST', '/v1/tree/nodes', { parentId: hex(16), nameHash: hex(32), encName: 'x', kind: 'file' })).body.error.code, 'XC_NOT_FOUND')

  const upd = await c.call('PATCH', `/v1/tree/nodes/${file.id}`, { encMeta: 'bWV0YQ', expectedRevision: 1 })
  t.equal(upd.status, 200)
  t.match(upd.body, { encMeta: 'bWV0YQ', revision: 2 })
  const stale = await c.call('PATCH', `/v1/tree/nodes/${file.id}`, { encMeta: null, expectedRevision: 1 })
  t.equal(stale.status, 409)
  t.equal(stale.body.error.code, 'XC_CONFLICT')

  t.equal((await c.call('DELETE', `/v1/tree/nodes/${dir.id}`)).body.error.code, 'XC_NOT_EMPTY')
  t.equal((await c.call('DELETE', `/v1/tree/nodes/${u.rootId}`)).body.error.code, 'XC_FORBIDDEN')
  t.equal((await c.call('DELETE', `/v1/tree/nodes/${file.id}?expectedRevision=1`)).body.error.code, 'XC_CONFLICT')
  t.equal((await c.call('DELETE', `/v1/tree/nodes/${file.id}?expectedRevision=2`)).status, 204)
  t.equal((await c.call('DELETE', `/v1/tree/nodes/${link.id}`)).status, 204)
  t.equal((await c.call('DELETE', `/v1/tree/nodes/${dir.id}`)).status, 204)
  t.equal((await c.call('GET', `/v1/tree/nodes/${dir.id}`)).status, 404)
  t.equal((await c.call('DELETE', `/v1/tree/nodes/${dir.id}`)).status, 404)
})

t.test('move and rename semantics', async (t) => {
  const b = await startTestBridge(t)
  const u = await newUser(b)
  const c = client(b, u)
  const a = await c.mk(u.rootId, 'dir')
  const aSub = await c.mk(a.id, 'dir')
  const f1 = await c.mk(u.rootId, 'file')
  const f2 = await c.mk(u.rootId, 'file')
  const emptyDir = await c.mk(u.rootId, 'dir')
  const fullDir = await c.mk(u.rootId, 'dir')
  await c.mk(fullDir.id, 'file')

  const code = async (p: ReturnType<typeof c.move>) => (await p).body?.error?.code ?? 'ok'
  t.equal(await code(c.move(f1.id, u.rootId, f2.nameHash)), 'XC_EXISTS', 'target exists, no replace')
  t.equal(await code(c.move(a.id, u.rootId, f1.nameHash, { replace: true })), 'XC_NOT_DIR', 'dir over file')
  t.equal(await code(c.move(f1.id, u.rootId, emptyDir.nameHash, { replace: true })), 'XC_IS_DIR', 'file over dir')
  t.equal(await code(c.move(a.id, u.rootId, fullDir.nameHash, { replace: true })), 'XC_NOT_EMPTY', 'dir over non-empty dir')
  t.equal(await code(c.move(a.id, aSub.id, hex(32))), 'XC_INVALID_MOVE', 'into its own subtree')
  t.equal(await code(c.move(a.id, a.id, hex(32))), 'XC_INVALID_MOVE', 'into itself')
  t.equal(await code(c.move(u.rootId, a.id, hex(32))), 'XC_FORBIDDEN', 'the root')
  t.equal(await code(c.move(f1.id, f2.id, hex(32))), 'XC_NOT_DIR', 'into a file')
  t.equal(await code(c.move(f1.id, hex(16), hex(32))), 'XC_NOT_FOUND', 'into nowhere')
  t.equal(await code(c.move(f1.id, a.id, hex(32), { expectedRevision: 7 })), 'XC_CONFLICT', 'stale revision')

  const renamed = await c.move(f1.id, a.id, 'ab'.repeat(32), { expectedRevision: 1 })
  t.equal(renamed.status, 200)
  t.match(renamed.body, { id: f1.id, parentId: a.id, nameHash: 'ab'.repeat(32), encName: 'moved', revision: 2 })

  const replaced = await c.move(f1.id, u.rootId, f2.nameHash, { replace: true })
  t.equal(replaced.status, 200, 'file over file')
  t.equal((await c.call('GET', `/v1/tree/nodes/${f2.id}`)).status, 404, 'the replaced file is gone')
  t.equal((await c.call('GET', `/v1/tree/lookup?parentId=${u.rootId}&nameHash=${f2.nameHash}`)).body.id, f1.id)

  const overEmpty = await c.move(a.id, u.rootId, emptyDir.nameHash, { replace: true })
  t.equal(overEmpty.status, 200, 'dir over empty dir')
  t.equal((await c.call('GET', `/v1/tree/nodes/${emptyDir.id}`)).status, 404)
  t.equal((await c.call('GET', `/v1/tree/nodes/${aSub.id}`)).body.parentId, a.id, 'children move with their dir')

  const inPlace = await c.move(a.id, u.rootId, emptyDir.nameHash)
  t.equal(inPlace.status, 200, 'rename onto its own name is fine')
})

t.test('changes feed with cursors', async (t) => {
  const b = await startTestBridge(t)
  const u = await newUser(b)
  const other = await newUser(b)
  const c = client(b, u)
  const first = (await c.call('GET', '/v1/tree/changes')).body
  t.equal(first.changes.length, 1, 'the root creation')
  t.match(first.changes[0], { op: 'upsert', nodeId: u.rootId, node: { id: u.rootId } })
  const cursor0 = first.cursor
  const d = await c.mk(u.rootId, 'dir')
  const f = await c.mk(d.id, 'file')
  await client(b, other).mk(other.rootId, 'dir') // another user's change never shows
  await c.call('PATCH', `/v1/tree/nodes/${f.id}`, { encMeta: 'bQ' })
  await c.call('DELETE', `/v1/tree/nodes/${f.id}`)

  const all = (await c.call('GET', `/v1/tree/changes?since=${cursor0}`)).body
  t.same(all.changes.map((ch: { op: string; nodeId: string }) => [ch.op, ch.nodeId]), [['upsert', d.id], ['upsert', f.id], ['upsert', f.id], ['delete', f.id]])
  t.equal(all.more, false)
  t.equal(all.changes[2].node.encMeta, 'bQ', 'upserts carry the node snapshot')
  t.equal(all.changes[3].node, null)
  t.ok(all.changes.every((ch: { seq: number }, i: number, arr: { seq: number }[]) => i === 0 || ch.seq > arr[i - 1]!.seq), 'increasing seq')

  const page1 = (await c.call('GET', `/v1/tree/changes?since=${cursor0}&limit=3`)).body
  t.equal(page1.changes.length, 3)
  t.equal(page1.more, true)
  const page2 = (await c.call('GET', `/v1/tree/changes?since=${page1.cursor}&limit=3`)).body
  t.same(page2.changes, all.changes.slice(3))
  t.equal(page2.more, false)
  const none = (await c.call('GET', `/v1/tree/changes?since=${page2.cursor}`)).body
  t.same(none, { changes: [], cursor: page2.cursor, more: false }, 'an up-to-date cursor stays put')
})

t.test('users are isolated', async (t) => {
  const b = await startTestBridge(t)
  const alice = await newUser(b)
  const bob = await newUser(b)
  const a = client(b, alice)
  const bb = client(b, bob)
  const secret = await a.mk(alice.rootId, 'dir')
  const file = await a.mk(secret.id, 'file')
  const expect404 = async (name: string, p: ReturnType<typeof bb.call>) => {
    const r = await p
    t.equal(r.status, 404, name)
    t.equal(r.body.error.code, 'XC_NOT_FOUND', name)
  }
  await expect404('get', bb.call('GET', `/v1/tree/nodes/${secret.id}`))
  await expect404('children', bb.call('GET', `/v1/tree/nodes/${alice.rootId}/children`))
  await expect404('lookup', bb.call('GET', `/v1/tree/lookup?parentId=${alice.rootId}&nameHash=${secret.nameHash}`))
  await expect404('create inside', bb.call('POST', '/v1/tree/nodes', { parentId: secret.id, nameHash: hex(32), encName: 'x', kind: 'file' }))
  await expect404('move', bb.move(file.id, bob.rootId, hex(32)))
  await expect404('move into', bb.move((await bb.mk(bob.rootId, 'file')).id, secret.id, hex(32)))
  await expect404('update', bb.call('PATCH', `/v1/tree/nodes/${file.id}`, { encMeta: null }))
  await expect404('delete', bb.call('DELETE', `/v1/tree/nodes/${file.id}`))
  await expect404('content', bb.call('GET', `/v1/nodes/${file.id}/content`))
  const bobChanges = (await bb.call('GET', '/v1/tree/changes')).body.changes
  t.notOk(bobChanges.some((ch: { nodeId: string }) => [secret.id, file.id, alice.rootId].includes(ch.nodeId)), "bob's feed has none of alice's nodes")
  t.not((await bb.call('GET', '/v1/tree/root')).body.id, alice.rootId)
  t.equal((await a.call('GET', `/v1/tree/nodes/${file.id}`)).status, 200, 'alice still has it')
})
