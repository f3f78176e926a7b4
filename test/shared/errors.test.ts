import t from 'tap'
import { ERRORS, XError, fromWire, isRetryable } from '../../src/shared/errors.js'

t.test('every code is XC_ prefixed with a 4xx/5xx status', async (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.match(code, /^XC_[A-Z_]+$/)
    t.ok(spec.status >= 400 && spec.status < 600, `${code} status`)
  }
})

t.test('input errors are 4xx and permanent', async (t) => {
  for (const code of ['XC_BAD_REQUEST', 'XC_BAD_JSON', 'XC_BAD_HASH', 'XC_TOKEN_INVALID', 'XC_TOKEN_EXPIRED', 'XC_TOKEN_SCOPE', 'XC_CAPACITY'] as const) {
    const e = new XError(code)
    t.equal(e.retryable, false, code)
    t.ok(e.status < 500 || code === 'XC_CAPACITY', code)
  }
  t.equal(isRetryable(new XError('XC_HOST_UNREACHABLE')), true)
  t.equal(isRetryable(Object.assign(new Error('x'), { code: 'ECONNRESET' })), true)
})

t.test('wire round trip keeps the code', async (t) => {
  const e = new XError('XC_NOT_EMPTY', 'dir has 2 entries')
  const back = fromWire(409, JSON.parse(JSON.stringify(e.toJSON())))
  t.equal(back.code, 'XC_NOT_EMPTY')
  t.equal(back.message, 'dir has 2 entries')
  t.equal(fromWire(500, { nonsense: true }).code, 'XC_HOST_UNREACHABLE')
})
