/**
 * The upload store's count of bytes placed on each host that its free space does not show yet:
 * placements since the host's last heartbeat, within the window asked for.
 */
import t from 'tap'
import path from 'node:path'
import { openSqliteStore } from '../../src/bridge/store/sqlite/index.js'

t.test('bytes placed on a host since its last heartbeat (and within the window) count as pending', async (t) => {
  const store = openSqliteStore(path.join(t.testdir(), 'bridge.db'))
  t.teardown(() => store.close())
  const now = 1_800_000_000_000
  const announce = { publicKey: 'k', url: 'https://127.0.0.1:1', fingerprint: 'F', cert: 'C', capacity: 1e12, used: 0, region: 'local', maxUploadRate: null, maxDownloadRate: null }
  store.upsertHost('h1', announce, now)
  store.upsertHost('h2', announce, now)
  store.upsertHost('h3', announce, now)
  store.insertUpload({ id: 'u1', userId: 'x', mirrors: 3, createdAt: now, expiresAt: now + 3600_000, regions: null })
  const hash = (i: number): string => i.toString(16).padStart(64, '0')
  let i = 0
  const place = (hostId: string, size: number, at: number): void => store.insertTargets('u1', [{ hash: hash(i++), hostId, size }], at)
  place('h1', 100, now - 1) // before h1's heartbeat below: already in its figures
  place('h1', 10, now + 5_000)
  place('h1', 20, now + 8_000)
  place('h2', 7, now + 1_000) // older than the window asked for below
  place('h2', 3, now + 9_000)
  store.heartbeat('h1', { capacity: 1e12, used: 100, shards: 1, bytesIn: 0, bytesOut: 0, uptimeMs: 1 }, now + 4_000)
  const pending = store.pendingBytes(now + 2_000)
  t.same(Object.fromEntries(pending), { h1: 30, h2: 3 }, 'after each host\'s heartbeat and the window start; no entry for a host with none')
  t.same(Object.fromEntries(store.pendingBytes(now + 5_000)), { h1: 30, h2: 3 }, 'a placement at the window start counts')
  t.same(Object.fromEntries(store.pendingBytes(now + 5_001)), { h1: 20, h2: 3 })
})
