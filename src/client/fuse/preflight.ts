/**
 * Before anything loads fuse-native (whose addon fails to load without libfuse 2, with a linker
 * error that says nothing useful): is FUSE usable on this machine? The check itself is plain
 * JavaScript in native-deps/fuse-check.mjs, because `npm install` runs it before anything is
 * built; this finds it from the installed package and turns its report into XC_FUSE_MISSING.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { XError } from '../../shared/errors.js'

export interface FuseCheck {
  ok: boolean
  family: 'debian' | 'fedora' | 'macos' | null
  problems: Array<{ what: string; detail: string; fix: string | null }>
  message: string
}

/** native-deps/fuse-check.mjs of this package: the first folder above this file that has it. */
function checkScript(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = path.join(dir, 'native-deps', 'fuse-check.mjs')
    if (existsSync(candidate)) return candidate
    const up = path.dirname(dir)
    if (up === dir) throw new XError('XC_INTERNAL', 'native-deps/fuse-check.mjs is missing from this installation')
    dir = up
  }
}

export async function checkFuse(): Promise<FuseCheck> {
  const mod = (await import(pathToFileURL(checkScript()).href)) as { checkFuse: () => FuseCheck }
  return mod.checkFuse()
}

/** Throw XC_FUSE_MISSING with the whole report (what is missing, the command that installs it). */
export async function requireFuse(): Promise<void> {
  const res = await checkFuse()
  if (!res.ok) throw new XError('XC_FUSE_MISSING', res.message, { missing: res.problems.map((p) => p.what) })
}
