/** Expiry of sessions (30 days) and uploads (24 h), on a bridge whose clock the test moves. */
import t from 'tap'
import { announcedHosts, newUser, shardRefs, startTestBridge } from './helpers.js'

t.test('sessions and uploads expire', async (t) => {
  let offset = 0
  const b = await startTestBridge(t, { now: () => Date.now() + offset, offlineAfterMs: 365 * 86400_000 })
  await announcedHosts(t, b, 3)
  const u = await newUser(b)
  const up = (await b.api('POST', '/v1/uploads', { session: u.session, body: {} })).body
  const place = () => b.api('POST', `/v1/uploads/${up.uploadId}/shards`, { session: u.session, body: { shards: shardRefs(1) } })
  t.equal((await place()).status, 200)

  offset = 25 * 3600_000
  const expired = await place()
  t.equal(expired.status, 410)
  t.equal(expired.body.error.code, 'XC_UPLOAD_EXPIRED')
  t.equal((await b.api('GET', '/v1/account', { session: u.session })).status, 200, 'the session still lives after a day')

  offset = 31 * 86400_000
  const gone = await b.api('GET', '/v1/account', { session: u.session })
  t.equal(gone.status, 401)
  t.equal(gone.body.error.code, 'XC_UNAUTHENTICATED')
  const again = await b.api('POST', '/v1/auth/login', { body: { email: u.email, authKey: u.authKey } })
  t.equal(again.status, 200, 'logging in again works')
})
