import t from 'tap'
import { createHash } from 'node:crypto'
import { ReplayGuard, challengeDigest, signOrder, verifyOrder } from '../../src/shared/orders.js'
import { parseSchedule, withinSchedule } from '../../src/shared/schedule.js'
import { generateSigningKeys, privateKeyObject, publicKeyObject } from '../../src/shared/tokens.js'

const bridge = generateSigningKeys()
const other = generateSigningKeys()
const HOST = 'b'.repeat(64)
const HASH = 'c'.repeat(64)
const body = { kind: 'delete' as const, hashes: [HASH] }

t.test('a signed order verifies for its host only, and only until it expires', async (t) => {
  const now = Date.now()
  const wire = signOrder(privateKeyObject(bridge.privateKey), HOST, body, now, 'nonce-0001')
  t.match(verifyOrder(publicKeyObject(bridge.publicKey), wire, HOST, now), { kind: 'delete', hashes: [HASH], host: HOST })
  t.throws(() => verifyOrder(publicKeyObject(bridge.publicKey), wire, 'd'.repeat(64), now), { code: 'XC_ORDER_SCOPE' })
  t.throws(() => verifyOrder(publicKeyObject(bridge.publicKey), wire, HOST, now + 61_000), { code: 'XC_ORDER_EXPIRED' })
  const forged = signOrder(privateKeyObject(other.privateKey), HOST, body, now, 'nonce-0002')
  t.throws(() => verifyOrder(publicKeyObject(bridge.publicKey), forged, HOST, now), { code: 'XC_ORDER_INVALID' })
  const [claims] = wire.split('.')
  const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(claims!, 'base64url').toString()), hashes: ['e'.repeat(64)] })).toString('base64url')
  t.throws(() => verifyOrder(publicKeyObject(bridge.publicKey), `${tampered}.${wire.split('.')[1]}`, HOST, now), { code: 'XC_ORDER_INVALID' })
  for (const junk of [undefined, 42, '', 'a.b.c', 'x'.repeat(70_000), '.sig']) {
    t.throws(() => verifyOrder(publicKeyObject(bridge.publicKey), junk, HOST, now), { code: 'XC_ORDER_INVALID' }, String(junk).slice(0, 20))
  }
  const badShape = signOrder(privateKeyObject(bridge.privateKey), HOST, { kind: 'delete', hashes: ['../etc/passwd'] }, now, 'nonce-0003')
  t.throws(() => verifyOrder(publicKeyObject(bridge.publicKey), badShape, HOST, now), { code: 'XC_ORDER_INVALID' })
})

t.test('the replay guard admits an order once, and nothing issued before it started', async (t) => {
  const start = Date.now()
  const guard = new ReplayGuard(start)
  guard.admit({ n: 'n1', iat: start, exp: start + 60_000 }, start)
  t.throws(() => guard.admit({ n: 'n1', iat: start, exp: start + 60_000 }, start), { code: 'XC_ORDER_REPLAYED' })
  t.throws(() => guard.admit({ n: 'n2', iat: start - 1, exp: start + 60_000 }, start), { code: 'XC_ORDER_REPLAYED' })
})

t.test('challenge digest is SHA-256(salt ‖ bytes)', async (t) => {
  const salt = Buffer.alloc(16, 7).toString('base64url')
  const data = Buffer.from('shard bytes')
  t.equal(challengeDigest(salt, data), createHash('sha256').update(Buffer.concat([Buffer.alloc(16, 7), data])).digest('hex'))
})

t.test('schedules', async (t) => {
  t.same(parseSchedule('08:00-20:00'), [{ from: 480, to: 1200 }])
  t.same(parseSchedule('22:00-06:00, 12:00-13:30'), [{ from: 1320, to: 360 }, { from: 720, to: 810 }])
  for (const bad of ['8-20', '08:00-08:00', '25:00-01:00', '', '08:00-20:00,']) t.throws(() => parseSchedule(bad), { code: 'XC_USAGE' }, bad)
  const at = (h: number, m = 0) => Date.UTC(2026, 0, 1, h, m)
  t.ok(withinSchedule('08:00-20:00', at(8)))
  t.notOk(withinSchedule('08:00-20:00', at(20)))
  t.ok(withinSchedule('22:00-06:00', at(23, 59)))
  t.ok(withinSchedule('22:00-06:00', at(5, 59)))
  t.notOk(withinSchedule('22:00-06:00', at(6)))
  t.ok(withinSchedule(null, at(3)))
  t.ok(withinSchedule('00:00-24:00', at(23, 59)))
})
