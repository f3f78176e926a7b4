import { randomBytes } from 'node:crypto'

/** Ids of users, nodes, versions and uploads: 16 random bytes, lowercase hex. */
export const ID_PATTERN = '^[0-9a-f]{32}$'

export function newId(): string {
  return randomBytes(16).toString('hex')
}
