/**
 * Writes to new files (created, or truncated to zero at open) are answered on libfuse's threads,
 * straight into the staging file (native-deps/attr-cache.c). The VFS must see them exactly as if
 * it had taken them itself: sizes while the file is open, reads through another handle, holes,
 * an ftruncate in between, appends through a second handle, and after unmount the same bytes on
 * a fresh device. The calls run in a child node process (never in the test process).
 */
import t from 'tap'
import path from 'node:path'
import { fastWrites } from '../../src/client/fuse/attr-cache.js'
import { loginDevice, newUser, startNetwork } from '../helpers/network.js'
import { mount, nodeJson, sh } from '../helpers/mount.js'

const script = String.raw`
const fs = require('fs'), path = require('path'), crypto = require('crypto')
const root = process.argv[1]
const p = (...a) => path.join(root, ...a)
const drop = () => { try { fs.writeFileSync('/proc/sys/vm/drop_caches', '2') } catch {} }
const size = (f) => { drop(); return fs.statSync(p(f)).size }
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
const pattern = (n, seed) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255; return b }
const out = {}

// A new file written in pieces, checked while still open.
const fd = fs.openSync(p('new.bin'), 'w')
fs.writeSync(fd, pattern(300 * 1024, 1), 0, 300 * 1024, 0)
out.afterFirst = size('new.bin')
drop(); out.fstat = fs.fstatSync(fd).size
// A hole across a shard boundary, then a write past it.
fs.writeSync(fd, pattern(10, 2), 0, 10, 5 * 1024 * 1024)
out.afterHole = size('new.bin')
const r = fs.openSync(p('new.bin'), 'r')
const head = Buffer.alloc(300 * 1024); fs.readSync(r, head, 0, head.length, 0)
out.headOk = head.equals(pattern(300 * 1024, 1))
const hole = Buffer.alloc(4096); fs.readSync(r, hole, 0, 4096, 3 * 1024 * 1024)
out.holeZeros = hole.every((b) => b === 0)
fs.closeSync(r)
// Shrink through the writing handle, then write again.
fs.ftruncateSync(fd, 200 * 1024)
out.afterFtruncate = size('new.bin')
fs.writeSync(fd, pattern(4096, 3), 0, 4096, 250 * 1024)
fs.closeSync(fd)
out.afterClose = size('new.bin')
const expect = Buffer.concat([pattern(200 * 1024, 1), Buffer.alloc(50 * 1024), pattern(4096, 3)])
out.content = sha(fs.readFileSync(p('new.bin'))) === sha(expect)
out.want = sha(expect)

// An existing file opened with O_TRUNC is new bytes again; an append handle beside it.
fs.writeFileSync(p('t.txt'), 'old content that must vanish')
const w = fs.openSync(p('t.txt'), 'w')
fs.writeSync(w, 'fresh ')
const a = fs.openSync(p('t.txt'), 'a')
fs.writeSync(a, 'appended')
fs.writeSync(w, 'FRESH', 0)
fs.closeSync(a); fs.closeSync(w)
out.truncated = fs.readFileSync(p('t.txt'), 'utf8')
process.stdout.write(JSON.stringify(out))
`

t.test('new files written below JavaScript: sizes, reads, holes, truncates and appends agree', async (t) => {
  const net = await startNetwork(t, { hosts: 3, mirrors: 3 })
  const user = await newUser(t, net, 'fast@example.com')
  const m = await mount(t, user)
  const r = await nodeJson(script, m.dir)
  t.same(r, {
    afterFirst: 300 * 1024,
    fstat: 300 * 1024,
    afterHole: 5 * 1024 * 1024 + 10,
    headOk: true,
    holeZeros: true,
    afterFtruncate: 200 * 1024,
    afterClose: 254 * 1024,
    content: true,
    want: r.want,
    truncated: 'FRESH appended',
  })
  await new Promise((resolve) => setTimeout(resolve, 1500)) // the daemon writes its status every second
  const status = JSON.parse(await user.ok('status', '--json')) as { nativeWrites: number | null }
  if (fastWrites) t.ok(status.nativeWrites! > 0, `writes went straight to staging (${status.nativeWrites})`)
  else t.equal(status.nativeWrites, null, 'the prebuilt addon takes no writes itself')

  t.equal(await m.stop(), 0, 'the daemon stops cleanly')
  const other = await loginDevice(t, net, 'fast@example.com')
  const m2 = await mount(t, other)
  const { stdout: digest } = await sh(`sha256sum '${path.join(m2.dir, 'new.bin')}' && cat '${path.join(m2.dir, 't.txt')}'`)
  t.equal(digest.split(' ')[0], r.want, 'a fresh device reads the same bytes')
  t.match(digest, /FRESH appended$/, 'and the truncated file as written')
  await m2.stop()
})

t.test('a 64 MiB dd into a new file reads back identical on a fresh device', async (t) => {
  const net = await startNetwork(t, { hosts: 3, mirrors: 3 })
  const user = await newUser(t, net, 'fastdd@example.com')
  const m = await mount(t, user)
  const src = path.join(m.home, 'src.bin')
  await sh(`head -c ${64 * 1024 * 1024} /dev/urandom > '${src}'`)
  const { stdout: want } = await sh(`sha256sum < '${src}'`)
  await sh(`dd if='${src}' of='${m.dir}/dd.bin' bs=1M status=none`)
  t.equal(await m.stop(), 0)
  const other = await loginDevice(t, net, 'fastdd@example.com')
  const m2 = await mount(t, other)
  const { stdout: got } = await sh(`sha256sum < '${m2.dir}/dd.bin'`)
  t.equal(got, want, 'identical')
  await m2.stop()
})
