/** The self-healing decisions as pure functions: states, reputation, repair priority, placement rules, accrual. */
import t from 'tap'
import { egressGrowth, periodStarts, storageByteMs } from '../../src/bridge/earnings/accrual.js'
import { hostState, isAvailable, isCounted, reputationOf } from '../../src/bridge/hosts/health.js'
import type { HostRecord } from '../../src/bridge/hosts/store.js'
import { eligible, placementCandidates, regionShortfall } from '../../src/bridge/placement/candidates.js'
import { placementWeight } from '../../src/bridge/placement/place.js'
import { droppableMirrors, repairQueue } from '../../src/bridge/repair/priority.js'
import { parseBridgeConfig } from '../../src/bridge/earnings/prices.js'

const NOW = Date.UTC(2026, 10, 25, 12, 0) // a Wednesday, 12:00 UTC

function host(over: Partial<HostRecord> = {}): HostRecord {
  return {
    id: 'a'.repeat(64), publicKey: 'k', url: 'https://127.0.0.1:1', fingerprint: 'F', cert: 'C', capacity: 10e9, used: 0, region: 'eu',
    maxUploadRate: null, maxDownloadRate: null, schedule: null, reportedShards: 0, bytesIn: 0, bytesOut: 0, uptimeMs: 0, lastSeen: NOW,
    successes: 0, failures: 0, auditsPassed: 0, auditsFailed: 0, approved: false, banned: false, exitStartedAt: null, exitedAt: null,
    accruedUntil: null, egressSeen: 0, egressCredit: 0, createdAt: NOW - 1000, ...over,
  }
}

t.test('reputation: a failed audit weighs ten reports, successes earn it back', async (t) => {
  t.equal(reputationOf(host()), 1)
  t.equal(reputationOf(host({ successes: 9, failures: 1 })), 10 / 11)
  t.equal(reputationOf(host({ successes: 9, auditsFailed: 1 })), 10 / 20)
  t.ok(reputationOf(host({ successes: 1000, auditsFailed: 1 })) > 0.98)
  t.ok(reputationOf(host({ successes: 5, auditsPassed: 5, auditsFailed: 1 })) > reputationOf(host({ successes: 5, auditsFailed: 1 })))
})

t.test('host states', async (t) => {
  const off = 10_000
  t.equal(hostState(host(), NOW, off), 'online')
  t.equal(hostState(host({ lastSeen: NOW - off - 1 }), NOW, off), 'offline')
  t.equal(hostState(host({ schedule: '00:00-06:00' }), NOW, off), 'offline', 'outside its hours')
  t.equal(hostState(host({ schedule: '22:00-13:00' }), NOW, off), 'online', 'a range across midnight')
  t.equal(hostState(host({ banned: true }), NOW, off), 'suspended')
  t.equal(hostState(host({ successes: 3, auditsFailed: 1 }), NOW, off), 'suspended', 'reputation under 0.5 after a failed audit')
  t.equal(hostState(host({ failures: 50 }), NOW, off), 'online', 'client reports alone never suspend')
  t.equal(hostState(host({ exitStartedAt: NOW - 5 }), NOW, off), 'exiting')
  t.equal(hostState(host({ exitStartedAt: NOW - 5, exitedAt: NOW }), NOW, off), 'exited')

  t.equal(isCounted(host({ schedule: '00:00-06:00' }), NOW, off), true, 'outside its hours it still counts (expected back)')
  t.equal(isAvailable(host({ schedule: '00:00-06:00' }), NOW, off), false, '…but serves nothing')
  t.equal(isCounted(host({ exitStartedAt: NOW }), NOW, off), false, 'an exiting host no longer counts')
  t.equal(isAvailable(host({ exitStartedAt: NOW }), NOW, off), true, '…but can hand its shards over')
  t.equal(isCounted(host({ lastSeen: NOW - off - 1 }), NOW, off), false)
})

t.test('placement candidates: available, trusted, approved when required, in the user\'s regions', async (t) => {
  const rules = { now: NOW, offlineAfterMs: 10_000, requireApproval: false, regions: null }
  t.ok(eligible(host(), rules))
  t.notOk(eligible(host({ schedule: '00:00-06:00' }), rules))
  t.notOk(eligible(host({ banned: true }), rules))
  t.notOk(eligible(host({ exitStartedAt: NOW }), rules))
  t.notOk(eligible(host(), { ...rules, requireApproval: true }))
  t.ok(eligible(host({ approved: true }), { ...rules, requireApproval: true }))
  t.ok(eligible(host({ region: 'eu' }), { ...rules, regions: ['eu', 'us'] }))
  t.notOk(eligible(host({ region: 'ap' }), { ...rules, regions: ['eu', 'us'] }))
  const list = placementCandidates([host({ id: '1', used: 4e9, maxDownloadRate: 8e6 })], new Map([['1', 1e9]]), rules)
  t.same(list, [{ id: '1', free: 5e9, load: 1e9, reputation: 1, bandwidth: 8e6 }])
  const slow = placementWeight({ id: 'x', free: 1e9, load: 0, reputation: 1, bandwidth: 8e6 })
  const fast = placementWeight({ id: 'y', free: 1e9, load: 0, reputation: 1, bandwidth: null })
  t.equal(slow / fast, 0.25, 'a host limited to 8 MB/s weighs a quarter of an unlimited one')
  const err = regionShortfall({ code: 'XC_NOT_ENOUGH_HOSTS', details: { needed: 3, available: 2 } }, ['eu'])
  t.match(err, { code: 'XC_REGION', message: /eu.*3 hosts.*2/ })
})

t.test('repair queue: fewest counted mirrors first, no source means unrepairable', async (t) => {
  const m = (hostId: string, counted: boolean, source = counted) => ({ hostId, counted, source })
  const { needs, unrepairable } = repairQueue([
    { hash: 'h-ok', size: 1, target: 3, mirrors: [m('a', true), m('b', true), m('c', true)] },
    { hash: 'h-two', size: 1, target: 3, mirrors: [m('a', true), m('b', true), m('c', false)] },
    { hash: 'h-one', size: 1, target: 3, mirrors: [m('a', true), m('d', false), m('e', false)] },
    { hash: 'h-exiting', size: 1, target: 3, mirrors: [m('x', false, true), m('y', false, true), m('z', false, true)] },
    { hash: 'h-lost', size: 1, target: 3, mirrors: [m('p', false), m('q', false)] },
  ])
  t.same(needs.map((n) => n.hash), ['h-exiting', 'h-one', 'h-two'])
  t.equal(unrepairable, 1)
  t.same(needs[1]!.sources, ['a'])
  t.same(needs[1]!.exclude, ['a', 'd', 'e'])
  t.equal(needs[0]!.missing, 3)
  t.same(droppableMirrors({ hash: 'x', size: 1, target: 2, mirrors: [m('a', true), m('b', false), m('c', true)] }), ['b'])
  t.same(droppableMirrors({ hash: 'x', size: 1, target: 3, mirrors: [m('a', true), m('b', false), m('c', true)] }), [], 'never below target')
  t.same(droppableMirrors({ hash: 'x', size: 1, target: 2, mirrors: [m('a', true), m('b', true), m('c', true), m('d', false)] }), ['d', 'c'],
    'beyond target: the newest counted mirror goes, with the ones that do not count')
  t.same(droppableMirrors({ hash: 'x', size: 1, target: 2, mirrors: [m('a', true), m('b', true, false), m('c', true)] }), ['b'],
    'a counted mirror that cannot serve now goes before a newer one that can')
})

t.test('repair queue: among equally urgent shards, the one tried longest ago goes first', async (t) => {
  const m = (hostId: string, counted: boolean) => ({ hostId, counted, source: counted })
  const shard = (hash: string, counted: number) => ({ hash, size: 1, target: 3, mirrors: ['a', 'b', 'c'].map((id, i) => m(id, i < counted)) })
  const shards = [shard('h-a', 2), shard('h-b', 2), shard('h-c', 2), shard('h-d', 1)]
  t.same(repairQueue(shards).needs.map((n) => n.hash), ['h-d', 'h-a', 'h-b', 'h-c'], 'by hash when nothing was tried')
  const tried = new Map([['h-a', 2000], ['h-b', 1000], ['h-d', 3000]])
  t.same(repairQueue(shards, tried).needs.map((n) => n.hash), ['h-d', 'h-c', 'h-b', 'h-a'], 'never tried, then oldest attempt; urgency still first')
})

t.test('accrual arithmetic', async (t) => {
  const mirrors = [{ size: 1000, storedAt: 100 }, { size: 10, storedAt: 500 }, { size: 7, storedAt: 2000 }]
  t.equal(storageByteMs(mirrors, 0, 1000), 1000 * 900 + 10 * 500)
  t.equal(storageByteMs(mirrors, 1000, 2000), 1000 * 1000 + 10 * 1000)
  t.equal(egressGrowth(500, 200), 300)
  t.equal(egressGrowth(50, 200), 50, 'a counter that went down restarted')
  const p = periodStarts(NOW)
  t.equal(new Date(p.week).toISOString(), '2026-11-23T00:00:00.000Z', 'weeks start on Monday')
  t.equal(new Date(p.month).toISOString(), '2026-11-01T00:00:00.000Z')
  t.equal(new Date(p.year).toISOString(), '2026-01-01T00:00:00.000Z')
})

t.test('bridge config: prices validated, defaults for what is missing', async (t) => {
  t.same(parseBridgeConfig({ prices: { egressPerGB: 0.01 } }, 'c').prices.egressPerGB, 0.01)
  t.ok(parseBridgeConfig({}, 'c').prices.storagePerGBHour > 0)
  t.throws(() => parseBridgeConfig({ prices: { egressPerGB: -1 } }, 'c'), { code: 'XC_CONFIG' })
  t.throws(() => parseBridgeConfig({ price: {} }, 'c'), { code: 'XC_CONFIG' })
  t.throws(() => parseBridgeConfig([], 'c'), { code: 'XC_CONFIG' })
  t.throws(() => parseBridgeConfig({ prices: { currency: '<script>' } }, 'c'), { code: 'XC_CONFIG' })
})
