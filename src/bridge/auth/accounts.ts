/**
 * Creating accounts: the same path for client registration and `xbridge admin users add`. A user
 * and its root directory are written in one transaction, so no account exists without a tree.
 */
import { xerr } from '../../shared/errors.js'
import type { KdfParams } from '../../shared/protocol.js'
import { validateKdfParams } from '../../shared/crypto/index.js'
import { newId } from '../ids.js'
import type { Transactor } from '../store/index.js'
import { insertRoot } from '../tree/service.js'
import type { TreeStore } from '../tree/store.js'
import { hashAuthKey, isValidEmail, newAuthSalt, normaliseEmail } from './secrets.js'
import type { UserStore } from './store.js'

export type AccountStore = Transactor & UserStore & Pick<TreeStore, 'insertNode' | 'appendChange'>

export function checkedEmail(text: string): string {
  const e = normaliseEmail(text)
  if (!isValidEmail(e)) throw xerr('XC_BAD_REQUEST', 'invalid email address')
  return e
}

export interface NewAccount {
  email: string
  authKey: Buffer
  kdf: KdfParams
  wrappedMasterKey: string
}

/** Create a user and its root directory in one transaction (registration and `xbridge admin users add`). */
export async function createAccount(store: AccountStore, a: NewAccount, now: number): Promise<string> {
  const email = checkedEmail(a.email)
  const kdf = validateKdfParams(a.kdf)
  if (store.userByEmail(email)) throw xerr('XC_EMAIL_TAKEN')
  const salt = newAuthSalt()
  const authHash = await hashAuthKey(a.authKey, salt)
  const id = newId()
  try {
    store.transaction(() => {
      store.insertUser({ id, email, authHash, authSalt: salt, kdf, wrappedMasterKey: a.wrappedMasterKey, createdAt: now })
      insertRoot(store, id, now)
    })
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw xerr('XC_EMAIL_TAKEN')
    throw err
  }
  return id
}
