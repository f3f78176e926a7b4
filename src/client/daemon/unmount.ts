/**
 * `xcloud unmount`: ask the daemon serving a mount point to stop (it pushes pending work, then
 * unmounts), or unmount a mount whose daemon is gone.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { XError } from '../../shared/errors.js'

const execFileP = promisify(execFile)

function isMounted(mountpoint: string): boolean {
  try {
    return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1]?.replace(/\\040/g, ' ') === mountpoint)
  } catch {
    return false
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export async function unmount(mountpoint: string, daemon: { pid: number; mountpoint: string } | null, waitMs = 120_000): Promise<void> {
  const mnt = path.resolve(mountpoint)
  if (daemon && daemon.mountpoint === mnt) {
    process.kill(daemon.pid, 'SIGTERM')
    const deadline = Date.now() + waitMs
    while (alive(daemon.pid)) {
      if (Date.now() > deadline) throw new XError('XC_MOUNT', `the daemon (pid ${daemon.pid}) did not stop within ${Math.round(waitMs / 1000)} s`)
      await new Promise((r) => setTimeout(r, 100))
    }
    return
  }
  if (!isMounted(mnt)) throw new XError('XC_USAGE', `${mnt} is not mounted`)
  try {
    await execFileP('fusermount', ['-u', mnt])
  } catch (err) {
    throw new XError('XC_MOUNT', `fusermount -u ${mnt} failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`)
  }
}
