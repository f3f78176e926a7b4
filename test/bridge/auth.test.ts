import t from 'tap'
import { defaultKdfParams } from '../../src/shared/crypto/index.js'
import { b64, newUser, startTestBridge } from './helpers.js'

t.test('register, params, login, account, logout', async (t) => {
  const b = await startTestBridge(t)
  const kdf = defaultKdfParams({ N: 1024 })
  const authKey = b64(32)
  const reg = await b.api('POST', '/v1/auth/register', { body: { email: '  Alice@Example.COM ', authKey, kdf, wrappedMasterKey: 'wrapped-mk' } })
  t.equal(reg.status, 201)
  t.match(reg.body.userId, /^[0-9a-f]{32}$/)

  const again = await b.api('POST', '/v1/auth/register', { body: { email: 'alice@example.com', authKey, kdf, wrappedMasterKey: 'x' } })
  t.equal(again.status, 409)
  t.equal(again.body.error.code, 'XC_EMAIL_TAKEN')

  const params = await b.api('GET', '/v1/auth/params?email=ALICE%40example.com')
  t.same(params.body, { kdf })

  const login = await b.api('POST', '/v1/auth/login', { body: { email: 'alice@EXAMPLE.com', authKey } })
  t.equal(login.status, 200)
  t.equal(login.body.userId, reg.body.userId)
  t.equal(login.body.wrappedMasterKey, 'wrapped-mk')
  t.match(login.body.session, /^[A-Za-z0-9_-]{43}$/)
  const days = (login.body.expiresAt - Date.now()) / 86400_000
  t.ok(days > 29.9 && days <= 30, `session lasts 30 days (${days})`)

  const account = await b.api('GET', '/v1/account', { session: login.body.session })
  t.equal(account.status, 200)
  t.same(account.body, { userId: reg.body.userId, email: 'alice@example.com', usedBytes: 0, files: 0, networkCapacity: 0, networkFree: 0 })

  const root = await b.api('GET', '/v1/tree/root', { session: login.body.session })
  t.equal(root.status, 200, 'every user gets a root at registration')
  t.match(root.body, { parentId: null, kind: 'dir', nameHash: '', encName: '' })

  t.equal((await b.api('POST', '/v1/auth/logout', { session: login.body.session })).status, 204)
  const after = await b.api('GET', '/v1/account', { session: login.body.session })
  t.equal(after.status, 401)
  t.equal(after.body.error.code, 'XC_UNAUTHENTICATED')
})

t.test('wrong password and unknown email look the same', async (t) => {
  const b = await startTestBridge(t)
  const u = await newUser(b, 'bob@example.com')
  const wrong = await b.api('POST', '/v1/auth/login', { body: { email: u.email, authKey: b64(32) } })
  t.equal(wrong.status, 401)
  t.equal(wrong.body.error.code, 'XC_BAD_CREDENTIALS')
  const unknown = await b.api('POST', '/v1/auth/login', { body: { email: 'nobody@example.com', authKey: b64(32) } })
  t.same(unknown.body, wrong.body)
  t.equal(unknown.status, 401)
})

t.test('unknown emails get stable decoy KDF parameters', async (t) => {
  const b = await startTestBridge(t)
  const one = await b.api('GET', '/v1/auth/params?email=ghost@example.com')
  const two = await b.api('GET', '/v1/auth/params?email=GHOST@example.com')
  const other = await b.api('GET', '/v1/auth/params?email=phantom@example.com')
  t.equal(one.status, 200)
  t.same(one.body, two.body, 'same answer every time')
  t.match(one.body.kdf, { alg: 'scrypt', N: 2 ** 17, r: 8, p: 1, salt: /^[A-Za-z0-9_-]{22}$/ })
  t.equal(Buffer.from(one.body.kdf.salt, 'base64url').length, 16)
  t.not(one.body.kdf.salt, other.body.kdf.salt, 'salt differs per email')
  t.same(Object.keys(one.body.kdf).sort(), Object.keys(defaultKdfParams()).sort(), 'a decoy has the shape of real parameters')

  // A restarted bridge (same data folder) answers the same decoy.
  await b.close()
  const b2 = await startTestBridge(t, { dataDir: b.dir })
  t.same((await b2.api('GET', '/v1/auth/params?email=ghost@example.com')).body, one.body)
  t.equal((await b2.api('GET', '/v1/auth/params?email=not-an-email')).status, 400)
  t.equal((await b2.api('GET', '/v1/auth/params')).status, 400)
})

t.test('register input is validated', async (t) => {
  const b = await startTestBridge(t)
  const good = { email: 'carol@example.com', authKey: b64(32), kdf: defaultKdfParams({ N: 1024 }), wrappedMasterKey: b64(60) }
  const cases: [string, unknown][] = [
    ['bad email', { ...good, email: 'carol' }],
    ['short auth key', { ...good, authKey: b64(16) }],
    ['auth key not base64url', { ...good, authKey: '+'.repeat(43) }],
    ['weak KDF', { ...good, kdf: { ...good.kdf, N: 16 } }],
    ['KDF N not a power of two', { ...good, kdf: { ...good.kdf, N: 3000 } }],
    ['KDF wrong alg', { ...good, kdf: { ...good.kdf, alg: 'md5' } }],
    ['KDF short salt', { ...good, kdf: { ...good.kdf, salt: b64(4) } }],
    ['KDF extra field', { ...good, kdf: { ...good.kdf, extra: 1 } }],
    ['extra field', { ...good, admin: true }],
    ['missing field', { email: good.email, authKey: good.authKey, kdf: good.kdf }],
    ['wrong type', { ...good, wrappedMasterKey: 42 }],
  ]
  for (const [name, body] of cases) {
    const r = await b.api('POST', '/v1/auth/register', { body })
    t.equal(r.status, 400, name)
    t.equal(r.body?.error?.code, 'XC_BAD_REQUEST', name)
  }
  t.equal((await b.api('POST', '/v1/auth/register', { body: good })).status, 201, 'the good one still works')
})

t.test('sessions: missing, malformed, unknown', async (t) => {
  const b = await startTestBridge(t)
  for (const headers of <Record<string, string>[]>[{}, { authorization: 'Bearer' }, { authorization: 'Basic abc' }, { authorization: `Bearer ${b64(32)}` }, { authorization: 'Bearer !!!' }]) {
    const r = await b.api('GET', '/v1/tree/root', { headers })
    t.equal(r.status, 401, JSON.stringify(headers))
    t.equal(r.body.error.code, 'XC_UNAUTHENTICATED')
  }
  // The session check comes before the body is even read.
  const r = await b.api('POST', '/v1/tree/nodes', { body: '{not json' })
  t.equal(r.status, 401)
})
