/**
 * The GC store's answer to "may this (shard, host) be deleted now?": not when it is a mirror again,
 * nor when an open upload placed it there again after the deletion was queued; yes for targets an
 * upload placed before (a committed upload's stand-in that lost the race, a deleted file's shards).
 */
import t from 'tap'
import path from 'node:path'
import { openSqliteStore } from '../../src/bridge/store/sqlite/index.js'

const H = 'ab'.repeat(32)

t.test('a queued deletion yields to a mirror or a newer placement, not to an older one', async (t) => {
  const store = openSqliteStore(path.join(t.testdir(), 'bridge.db'))
  t.teardown(() => store.close())
  const now = 1_800_000_000_000
  store.insertUpload({ id: 'u1', userId: 'x', mirrors: 3, createdAt: now, expiresAt: now + 3600_000, regions: null })
  store.insertTargets('u1', [{ hash: H, hostId: 'h1', size: 10 }], now)
  store.queueDeletion(H, 'h1', now + 10)
  t.notOk(store.isWanted(H, 'h1', now + 20), 'placed before the deletion was queued: deleted')

  store.insertUpload({ id: 'u2', userId: 'x', mirrors: 3, createdAt: now + 30, expiresAt: now + 3600_000, regions: null })
  store.insertTargets('u2', [{ hash: H, hostId: 'h1', size: 10 }], now + 30)
  t.ok(store.isWanted(H, 'h1', now + 40), 'placed again by an open upload: kept')
  t.notOk(store.isWanted(H, 'h1', now + 3600_001), 'once that upload expired: deleted')
  t.notOk(store.isWanted(H, 'h2', now + 40), 'another host: deleted')
})
