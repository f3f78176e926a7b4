/**
 * native-deps/fuse-check.mjs: finds libfuse 2, /dev/fuse and fusermount, and names the exact
 * fix for this machine's family first. Library and device paths are pointed at empty or missing
 * places to simulate a machine without FUSE.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const script = fileURLToPath(new URL('../../../native-deps/fuse-check.mjs', import.meta.url))
interface Res { ok: boolean; family: string | null; problems: Array<{ what: string }>; message: string }
const mod = (await import(pathToFileURL(script).href)) as {
  checkFuse(o?: object): Res
  detectFamily(platform: string, osRelease: Record<string, string>): string | null
  installCommand(r: Res): string[] | null
}
const empty = mkdtempSync(path.join(tmpdir(), 'xcloud-nolib-'))

t.test('families from os-release', async (t) => {
  t.equal(mod.detectFamily('linux', { ID: 'debian' }), 'debian')
  t.equal(mod.detectFamily('linux', { ID: 'ubuntu', ID_LIKE: 'debian' }), 'debian')
  t.equal(mod.detectFamily('linux', { ID: 'linuxmint', ID_LIKE: 'ubuntu debian' }), 'debian')
  t.equal(mod.detectFamily('linux', { ID: 'fedora' }), 'fedora')
  t.equal(mod.detectFamily('linux', { ID: 'rocky', ID_LIKE: 'rhel centos fedora' }), 'fedora')
  t.equal(mod.detectFamily('linux', { ID: 'arch' }), null)
  t.equal(mod.detectFamily('darwin', {}), 'macos')
  t.equal(mod.detectFamily('win32', {}), null)
})

t.test('this machine has FUSE', async (t) => {
  const res = mod.checkFuse()
  t.ok(res.ok, res.message)
  t.equal(res.message, '')
  t.equal(mod.installCommand(res), null)
})

t.test('no libfuse in the library path: the package for each system, this one first', async (t) => {
  for (const [family, pkg] of [['debian', 'apt-get install -y libfuse2'], ['fedora', 'dnf install -y fuse-libs']] as const) {
    const res = mod.checkFuse({ libraryPath: empty, family, platform: 'linux' })
    t.notOk(res.ok)
    t.same(res.problems.map((p) => p.what), ['libfuse'])
    t.match(res.message, new RegExp(`${pkg.replace(/[-]/g, '\\-')}   <- this machine`), `${family}: ${pkg} marked`)
    t.match(res.message, /brew install --cask macfuse/, 'macOS listed too')
    t.same(mod.installCommand(res), pkg.split(' '), 'the command that would install it')
  }
  const unknown = mod.checkFuse({ libraryPath: empty, family: null, platform: 'linux' })
  t.match(unknown.message, /apt-get install -y libfuse2/, 'an unknown Linux still gets every command')
  t.equal(mod.installCommand(unknown), null, 'but nothing is installed automatically')
})

t.test('a library file named libfuse.so.2 is found', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xcloud-lib-'))
  writeFileSync(path.join(dir, 'libfuse.so.2.9.9'), '')
  t.ok(mod.checkFuse({ libraryPath: dir, platform: 'linux' }).ok)
})

t.test('no /dev/fuse: modprobe, and the container flags', async (t) => {
  const res = mod.checkFuse({ device: path.join(empty, 'fuse'), platform: 'linux' })
  t.notOk(res.ok)
  t.same(res.problems.map((p) => p.what), ['device'])
  t.match(res.message, /modprobe fuse/)
  t.match(res.message, /--device \/dev\/fuse --cap-add SYS_ADMIN/)
  const file = path.join(empty, 'not-a-device')
  writeFileSync(file, '')
  t.match(mod.checkFuse({ device: file, platform: 'linux' }).message, /not a character device/)
})

t.test('as a program: exit 1 with the report, or 0 with --warn (postinstall)', async (t) => {
  const run = (args: string[]) => new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [script, ...args], { env: { ...process.env, XCLOUD_FUSE_LIBRARY_PATH: empty } }, (err, _o, stderr) => {
      resolve({ code: err ? (err as { code: number }).code : 0, stderr })
    })
  })
  const strict = await run([])
  t.equal(strict.code, 1)
  t.match(strict.stderr, /libfuse2/)
  const warn = await run(['--warn'])
  t.equal(warn.code, 0)
  t.match(warn.stderr, /only the drive needs it/)
})
