/** Shared by the crypto tests: the client's real AAD labels and an assertion on XError codes. */
import { XError, type ErrorCode } from '../../src/shared/errors.js'

// The labels the client wraps keys with; tests use the client's own constants so that renaming
// one breaks the fixtures' round trips instead of passing unnoticed.
export { MASTER_KEY_AAD as MK_AAD } from '../../src/client/session/account.js'
export { FILE_KEY_AAD as FK_AAD } from '../../src/client/transfer/upload.js'

export function throwsCode(t: { pass(m: string): unknown; fail(m: string): unknown }, fn: () => unknown, code: ErrorCode, what: string): void {
  try {
    fn()
    t.fail(`${what}: did not throw`)
  } catch (err) {
    if (err instanceof XError && err.code === code) t.pass(`${what}: ${code}`)
    else t.fail(`${what}: expected ${code}, got ${err instanceof XError ? err.code : String(err)}`)
  }
}
