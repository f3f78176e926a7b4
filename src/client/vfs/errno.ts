/**
 * The VFS speaks errno: every failure a file-system call can have is an FsError carrying a POSIX
 * error name. The FUSE adapter turns it into the negative number the kernel expects; nothing else
 * in the daemon needs to know the numbers.
 */
import { constants } from 'node:os'
import { XError } from '../../shared/errors.js'

export type Errno =
  | 'EPERM' | 'ENOENT' | 'EIO' | 'EBADF' | 'EACCES' | 'EEXIST' | 'EXDEV' | 'ENOTDIR' | 'EISDIR'
  | 'EINVAL' | 'EFBIG' | 'ENOSPC' | 'EROFS' | 'ENAMETOOLONG' | 'ENOTEMPTY' | 'ELOOP' | 'ENOSYS'
  | 'ETIMEDOUT' | 'EAGAIN' | 'ENOTSUP' | 'ENODATA' | 'EBUSY'

export class FsError extends Error {
  constructor(readonly errno: Errno, message?: string) {
    // Most of these are answers, not faults: ENOENT for a name about to be created (every file a
    // program creates is looked up first), EEXIST, ENOTEMPTY. V8 collects a stack trace for each
    // Error it constructs, about 15 us from the FUSE handlers' depth against about 1 us without
    // (measured). Only EIO, a fault worth tracing, keeps its stack.
    const limit = Error.stackTraceLimit
    if (errno !== 'EIO') Error.stackTraceLimit = 0
    super(message ? `${errno}: ${message}` : errno)
    Error.stackTraceLimit = limit
    this.name = 'FsError'
  }
}

export function fsErr(errno: Errno, message?: string): FsError {
  return new FsError(errno, message)
}

/** The negative errno number libfuse expects for an error. */
export function errnoNumber(errno: Errno): number {
  const n = (constants.errno as Record<string, number>)[errno]
  return -(n ?? constants.errno.EIO)
}

/** Any error as an FsError: network and crypto failures become EIO, a full disk ENOSPC. */
export function toFsError(err: unknown): FsError {
  if (err instanceof FsError) return err
  if (err instanceof XError) {
    switch (err.code) {
      case 'XC_NOT_FOUND': return fsErr('ENOENT', err.message)
      case 'XC_EXISTS': return fsErr('EEXIST', err.message)
      case 'XC_NOT_DIR': return fsErr('ENOTDIR', err.message)
      case 'XC_IS_DIR': return fsErr('EISDIR', err.message)
      case 'XC_NOT_EMPTY': return fsErr('ENOTEMPTY', err.message)
      case 'XC_TIMEOUT': return fsErr('ETIMEDOUT', err.message)
      default: return fsErr('EIO', `${err.code}: ${err.message}`)
    }
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return fsErr('ENOSPC', (err as Error).message)
  if (code === 'EFBIG') return fsErr('EFBIG', (err as Error).message)
  return fsErr('EIO', err instanceof Error ? err.message : String(err))
}
