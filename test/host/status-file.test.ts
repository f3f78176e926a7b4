import t from 'tap'
import { nextHistory, rateBetween, type TrafficSample } from '../../src/host/status-file.js'
import { checkHostSelf } from '../../src/host/bridge/self.js'
import { stateOf } from '../../src/host/bridge/announce.js'

const at = (min: number, bytesIn = 0, bytesOut = 0): TrafficSample => ({ at: min * 60_000, bytesIn, bytesOut })

t.test('history keeps one sample a minute for at most 24 h', async (t) => {
  let h: TrafficSample[] = []
  h = nextHistory(h, at(0))
  t.equal(h.length, 1, 'the first sample is kept')
  h = nextHistory(h, { at: 30_000, bytesIn: 1, bytesOut: 1 })
  t.equal(h.length, 1, 'not a minute later: not kept')
  h = nextHistory(h, at(1, 5, 5))
  t.equal(h.length, 2)
  for (let m = 2; m <= 24 * 60 + 10; m++) h = nextHistory(h, at(m, m, m))
  t.ok(h.length <= 24 * 60 + 1, `bounded (${h.length})`)
  t.ok(h[0]!.at >= (24 * 60 + 10 - 24 * 60) * 60_000, 'nothing older than 24 h')
  t.same(h.at(-1), at(24 * 60 + 10, 24 * 60 + 10, 24 * 60 + 10))
})

t.test('rates are from the owner\'s point of view', async (t) => {
  t.same(rateBetween({ at: 0, bytesIn: 0, bytesOut: 0 }, { at: 2000, bytesIn: 4000, bytesOut: 1000 }), { uploadBps: 500, downloadBps: 2000 }, 'upload = sent, download = received')
  t.same(rateBetween({ at: 1000, bytesIn: 0, bytesOut: 0 }, { at: 1000, bytesIn: 10, bytesOut: 10 }), { uploadBps: 0, downloadBps: 0 }, 'no time, no rate')
  t.same(rateBetween({ at: 0, bytesIn: 10, bytesOut: 10 }, { at: 1000, bytesIn: 0, bytesOut: 0 }), { uploadBps: 0, downloadBps: 0 }, 'a counter reset is not negative')
})

t.test('what the bridge says is checked before use', async (t) => {
  const good = { hostId: 'h', state: 'online', reputation: 1, approved: true, banned: false, shards: 0, storedBytes: 0, auditsPassed: 0, auditsFailed: 0, earnings: { currency: 'USD', week: 0, month: 0, year: 0, allTime: 0, storageGBHours: 0, egressGB: 0 } }
  t.same(checkHostSelf(good), good)
  for (const bad of [null, {}, { ...good, state: 'gone' }, { ...good, shards: '3' }, { ...good, earnings: null }, { ...good, earnings: { ...good.earnings, week: NaN } }]) {
    t.throws(() => checkHostSelf(bad), { code: 'XC_FORMAT' })
  }
  t.equal(stateOf({ ok: true, state: 'exited' }), 'exited')
  t.equal(stateOf({ ok: true }), null, 'an older bridge sends no state')
  t.equal(stateOf({ state: 'weird' }), null)
})
