/** Remote path syntax, pure: absolute, '/'-separated, each name 1..255 UTF-8 bytes, no NUL. */
import { XError } from '../../shared/errors.js'

export const NAME_MAX = 255

export function validateName(name: string): string {
  if (name === '' || name === '.' || name === '..') throw new XError('XC_USAGE', `invalid name "${name}"`)
  if (name.includes('/') || name.includes('\0')) throw new XError('XC_USAGE', `a name cannot contain "/" or NUL: "${name}"`)
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw new XError('XC_USAGE', `name longer than ${NAME_MAX} bytes`, { errno: 'ENAMETOOLONG' })
  return name.normalize('NFC')
}

/** "/a/b/" → ["a", "b"]; "/" → []. Relative paths are taken from the root. */
export function splitPath(p: string): string[] {
  if (typeof p !== 'string' || p.length > 4096) throw new XError('XC_USAGE', 'invalid remote path')
  return p.split('/').filter((s) => s !== '' && s !== '.').map(validateName)
}

export function joinPath(parts: string[]): string {
  return '/' + parts.join('/')
}
