/**
 * Real programs on the mount, each followed by the proof that the bytes reached the network: the
 * first device unmounts (pushing its queue), a second device with a fresh home and cache mounts
 * the same account, and the tree reads back identical there.
 */
import t, { type Test } from 'tap'
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs'
import path from 'node:path'
import { loginDevice, newUser, startNetwork, workdir, type User } from '../helpers/network.js'
import { mount, sh, treeDigest, type Mount } from '../helpers/mount.js'
import type { LocalNet } from '../../src/localnet/localnet.js'

const EMAIL = 'programs@example.com'
let net: LocalNet
let user: User

t.before(async () => {
  net = await startNetwork(t, { hosts: 6 })
  user = await newUser(t, net, EMAIL)
})

/** Unmount `m`, mount the account on a fresh device, and compare `sub` on both sides. */
async function freshDeviceSees(t: Test, m: Mount, sub: string, want: string): Promise<void> {
  t.equal(await m.stop(), 0, 'the daemon stops cleanly')
  const other = await loginDevice(t, net, EMAIL)
  const m2 = await mount(t, other)
  t.equal(await treeDigest(path.join(m2.dir, sub)), want, `${sub} reads back identical on a fresh device`)
  await m2.stop()
}

function mixedTree(root: string): void {
  mkdirSync(path.join(root, 'a/b/c'), { recursive: true })
  mkdirSync(path.join(root, 'empty dir'))
  writeFileSync(path.join(root, 'empty.txt'), '')
  writeFileSync(path.join(root, 'one'), 'x')
  writeFileSync(path.join(root, 'a/with space.txt'), 'spaces in the name\n')
  writeFileSync(path.join(root, 'a/b/ünïcødé – 日本語.txt'), 'utf-8 names\n')
  writeFileSync(path.join(root, 'a/b/c/deep.md'), '# deep\n'.repeat(1000))
  symlinkSync('a/with space.txt', path.join(root, 'link'))
}

t.test('cp -r of a mixed tree in and back out, identical checksums', async (t) => {
  const src = workdir(t, 'src')
  mixedTree(src)
  await sh(`head -c ${50 * 1024 * 1024} /dev/urandom > '${src}/a/b/fifty.bin'`)
  const want = await treeDigest(src)
  const m = await mount(t, user)
  await sh(`cp -r '${src}' '${m.dir}/cp'`)
  t.equal(await treeDigest(path.join(m.dir, 'cp')), want, 'the copy on the mount matches')
  const out = workdir(t, 'out')
  await sh(`cp -r '${m.dir}/cp' '${out}/back'`)
  t.equal(await treeDigest(path.join(out, 'back')), want, 'copied back out, identical')
  await freshDeviceSees(t, m, 'cp', want)
})

t.test('rsync -a into the mount and back', async (t) => {
  const src = workdir(t, 'src')
  mixedTree(src)
  const want = await treeDigest(src)
  const m = await mount(t, user)
  await sh(`rsync -a '${src}/' '${m.dir}/rsync/'`)
  t.equal(await treeDigest(path.join(m.dir, 'rsync')), want)
  // A second rsync finds nothing to do (sizes and times kept).
  const again = await sh(`rsync -a --itemize-changes '${src}/' '${m.dir}/rsync/'`)
  t.equal(again.stdout.trim(), '', 'a second rsync -a transfers nothing')
  await freshDeviceSees(t, m, 'rsync', want)
})

t.test('tar x then tar c round trip', async (t) => {
  const src = workdir(t, 'src')
  mixedTree(src)
  const tarball = path.join(workdir(t, 'tar'), 'in.tar')
  await sh(`tar cf '${tarball}' -C '${src}' .`)
  const want = await treeDigest(src)
  const m = await mount(t, user)
  await sh(`mkdir '${m.dir}/tar' && tar xf '${tarball}' -C '${m.dir}/tar'`)
  t.equal(await treeDigest(path.join(m.dir, 'tar')), want, 'untarred tree matches')
  const out = workdir(t, 'out')
  await sh(`tar cf '${out}/again.tar' -C '${m.dir}/tar' . && mkdir '${out}/x' && tar xf '${out}/again.tar' -C '${out}/x'`)
  t.equal(await treeDigest(path.join(out, 'x')), want, 're-tarred from the mount, identical')
  await freshDeviceSees(t, m, 'tar', want)
})

t.test('git init, add, commit, log, status', async (t) => {
  const m = await mount(t, user)
  const repo = path.join(m.dir, 'repo')
  const git = (args: string): Promise<{ stdout: string }> => sh(`git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main ${args}`, { cwd: repo })
  await sh(`mkdir '${repo}'`)
  await git('init -q')
  await sh(`printf 'hello\\n' > README && mkdir src && printf 'console.log(1)\\n' > src/main.js`, { cwd: repo })
  await git('add -A')
  await git('commit -q -m first')
  await sh(`printf 'more\\n' >> README`, { cwd: repo })
  await git('commit -q -am second')
  const log = await git('log --format=%s')
  t.same(log.stdout.trim().split('\n'), ['second', 'first'], 'git log shows both commits')
  const status = await git('status --porcelain')
  t.equal(status.stdout, '', 'clean working tree')
  const fsck = await git('fsck --strict')
  t.ok(fsck, 'git fsck passes')
  const want = await treeDigest(repo)
  await freshDeviceSees(t, m, 'repo', want)
})

t.test('sqlite3 creates, fills and queries a database on the mount', async (t) => {
  const m = await mount(t, user)
  const db = path.join(m.dir, 'data.db')
  await sh(`sqlite3 '${db}' "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 5000) INSERT INTO t (v) SELECT hex(randomblob(64)) FROM n;"`)
  await sh(`sqlite3 '${db}' "UPDATE t SET v = 'x' WHERE id % 7 = 0; DELETE FROM t WHERE id % 11 = 0;"`)
  const q = await sh(`sqlite3 '${db}' "PRAGMA integrity_check; SELECT COUNT(*), SUM(v = 'x') FROM t;"`)
  t.equal(q.stdout.trim(), 'ok\n4546|650', 'integrity ok and the expected rows')
  const dbDigest = (await sh(`sha256sum data.db`, { cwd: m.dir })).stdout
  await m.stop()
  const other = await loginDevice(t, net, EMAIL)
  const m2 = await mount(t, other)
  t.equal((await sh(`sha256sum data.db`, { cwd: m2.dir })).stdout, dbDigest, 'the database reads back identical on a fresh device')
  const q2 = await sh(`sqlite3 '${m2.dir}/data.db' "PRAGMA integrity_check; SELECT COUNT(*) FROM t;"`)
  t.equal(q2.stdout.trim(), 'ok\n4546')
})

t.test('editor-style save: temp file, fsync, rename over the original', async (t) => {
  const m = await mount(t, user)
  await sh(`mkdir '${m.dir}/doc' && printf 'version 1\\n' > '${m.dir}/doc/note.txt'`)
  // What editors do: write a temp file beside the original, fsync it, rename it over.
  const save = `const fs = require('fs'); const p = process.argv[1]; const tmp = p + '.swp';
    const fd = fs.openSync(tmp, 'w'); fs.writeSync(fd, 'version 2\\n'); fs.fsyncSync(fd); fs.closeSync(fd); fs.renameSync(tmp, p);`
  await sh(`node -e "${save.replace(/"/g, '\\"')}" '${m.dir}/doc/note.txt'`)
  t.equal((await sh(`cat '${m.dir}/doc/note.txt'`)).stdout, 'version 2\n')
  t.equal((await sh(`ls '${m.dir}/doc'`)).stdout, 'note.txt\n', 'no temp file left')
  await freshDeviceSees(t, m, 'doc', await treeDigest(path.join(m.dir, 'doc')))
})

t.test('mv of a folder with content', async (t) => {
  const m = await mount(t, user)
  const src = workdir(t, 'src')
  mixedTree(src)
  const want = await treeDigest(src)
  await sh(`cp -r '${src}' '${m.dir}/before'`)
  await sh(`mkdir '${m.dir}/target' && mv '${m.dir}/before' '${m.dir}/target/after'`)
  t.equal((await sh(`ls '${m.dir}'`, {})).stdout.includes('before'), false, 'the old name is gone')
  t.equal(await treeDigest(path.join(m.dir, 'target/after')), want, 'content moved with the folder')
  await freshDeviceSees(t, m, 'target', await treeDigest(path.join(m.dir, 'target')))
})

t.test('a 2 GiB dd file', async (t) => {
  t.setTimeout(900_000)
  const m = await mount(t, user, undefined, ['--drain', '600'])
  const src = path.join(workdir(t, 'src'), 'big.bin')
  await sh(`dd if=/dev/urandom of='${src}' bs=1M count=2048 iflag=fullblock status=none`)
  const want = (await sh(`sha256sum '${src}'`)).stdout.split(' ')[0]
  await sh(`dd if='${src}' of='${m.dir}/big.bin' bs=1M status=none`)
  await sh(`rm '${src}'`)
  const got = (await sh(`sha256sum '${m.dir}/big.bin'`)).stdout.split(' ')[0]
  t.equal(got, want, 'reads back identical on the same device')
  t.equal(await m.stop(), 0)
  const other = await loginDevice(t, net, EMAIL)
  const m2 = await mount(t, other)
  t.equal((await sh(`sha256sum '${m2.dir}/big.bin'`)).stdout.split(' ')[0], want, 'identical on a fresh device')
})
