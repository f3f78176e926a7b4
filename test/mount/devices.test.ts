/**
 * Two devices of one account, each with its own daemon and home, mounted at two folders.
 */
import t from 'tap'
import { loginDevice, newUser, startNetwork } from '../helpers/network.js'
import { mount, sh, until } from '../helpers/mount.js'

t.test('two devices converge: new files, edits, renames, deletes, and conflicting edits', async (t) => {
  const net = await startNetwork(t, { hosts: 6 })
  const a = await newUser(t, net, 'two@example.com')
  const b = await loginDevice(t, net, 'two@example.com')
  const ma = await mount(t, a)
  const mb = await mount(t, b)
  const exists = (p: string): Promise<boolean> => sh(`test -e '${p}'`, { allowFail: true }).then((r) => r.code === 0)
  const read = (p: string): Promise<string> => sh(`cat '${p}'`, { allowFail: true }).then((r) => (r.code === 0 ? r.stdout : '<missing>'))

  await sh(`head -c 5000000 /dev/urandom > '${ma.dir}/photo.bin' && mkdir '${ma.dir}/docs' && printf 'draft\\n' > '${ma.dir}/docs/plan.txt'`)
  const want = (await sh(`sha256sum < '${ma.dir}/photo.bin'`)).stdout
  const ms = await until(async () => (await exists(`${mb.dir}/docs/plan.txt`)) && (await exists(`${mb.dir}/photo.bin`)), 5000, 'files on device B')
  t.ok(ms <= 5000, `closed files showed up on the other device after ${ms} ms`)
  t.equal((await sh(`sha256sum < '${mb.dir}/photo.bin'`)).stdout, want, 'identical content on device B')
  t.equal(await read(`${mb.dir}/docs/plan.txt`), 'draft\n')

  await sh(`printf 'final\\n' > '${ma.dir}/docs/plan.txt'`)
  await until(async () => (await read(`${mb.dir}/docs/plan.txt`)) === 'final\n', 5000, 'the edit on device B')
  t.pass('an edit propagates')

  await sh(`mv '${mb.dir}/docs' '${mb.dir}/documents' && rm '${mb.dir}/photo.bin'`)
  await until(async () => (await exists(`${ma.dir}/documents/plan.txt`)) && !(await exists(`${ma.dir}/photo.bin`)) && !(await exists(`${ma.dir}/docs`)), 5000, 'rename and delete on device A')
  t.pass('a rename and a delete propagate back')

  // Both devices change the same file at the same moment, each from the version it knew: the
  // bridge takes one commit; the other device keeps its bytes as a conflicted copy.
  await sh(`printf 'A wins?\\n' > '${ma.dir}/documents/plan.txt' & printf 'B wins?\\n' > '${mb.dir}/documents/plan.txt' & wait`)
  const listing = async (dir: string): Promise<string[]> => (await sh(`ls '${dir}/documents'`)).stdout.trim().split('\n')
  await until(async () => (await listing(ma.dir)).length === 2 && (await listing(mb.dir)).length === 2, 10_000, 'a conflicted copy on both devices')
  const names = await listing(ma.dir)
  t.same(await listing(mb.dir), names, 'both devices list the same two files')
  t.ok(names.includes('plan.txt') && names.some((n) => /^plan \(conflicted copy .+\)\.txt$/.test(n)), `names: ${names.join(', ')}`)
  const contents = (await sh(`cat '${ma.dir}/documents/'*`)).stdout
  t.match(contents, /A wins\?/, "A's bytes kept")
  t.match(contents, /B wins\?/, "B's bytes kept")
  t.equal((await sh(`cat '${mb.dir}/documents/'*`)).stdout.split('\n').sort().join('\n'), contents.split('\n').sort().join('\n'), 'same bytes on both devices')
})
