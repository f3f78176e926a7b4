/**
 * The native attribute cache (native-deps/attr-cache.c) answers repeated stats without the daemon,
 * and never answers one with attributes older than a change made through the mount. Each step
 * drops the kernel's own dentry and inode caches (as root), so the next stat reaches the
 * daemon's process and is answered by the native cache or by JavaScript. The calls run in a child
 * node process (never in the test process, which must not touch a FUSE mount synchronously).
 */
import t from 'tap'
import { attrCache } from '../../src/client/fuse/attr-cache.js'
import { newUser, startNetwork } from '../helpers/network.js'
import { mount, nodeJson, sh } from '../helpers/mount.js'

const script = String.raw`
const fs = require('fs'), path = require('path')
const root = process.argv[1]
const p = (...a) => path.join(root, ...a)
const drop = () => fs.writeFileSync('/proc/sys/vm/drop_caches', '2')
const st = (f) => { drop(); try { const s = fs.statSync(p(f)); return { size: s.size, mode: (s.mode & 0o7777).toString(8), mtime: s.mtimeMs, dir: s.isDirectory() } } catch (e) { return e.code } }
const out = {}
fs.mkdirSync(p('d')); fs.writeFileSync(p('d', 'a'), 'x'); fs.writeFileSync(p('d', 'b'), 'yy')
fs.readdirSync(p('d')); fs.readdirSync(root)
out.first = st('d/a')
out.again = st('d/a')
fs.appendFileSync(p('d', 'a'), 'more'); out.appended = st('d/a').size
fs.utimesSync(p('d', 'a'), 1500000000, 1600000000); out.utimes = st('d/a').mtime
fs.chmodSync(p('d', 'a'), 0o600); out.chmod = st('d/a').mode
fs.truncateSync(p('d', 'a'), 2); out.truncated = st('d/a').size
const fd = fs.openSync(p('d', 'a'), 'r+'); fs.writeSync(fd, Buffer.alloc(10, 1), 0, 10, 100); out.whileOpen = st('d/a').size
fs.writeSync(fd, Buffer.alloc(10, 1), 0, 10, 200); drop(); out.fstatWhileOpen = fs.fstatSync(fd).size
fs.ftruncateSync(fd, 110); drop(); out.ftruncated = fs.fstatSync(fd).size; fs.closeSync(fd)
out.afterClose = st('d/a').size
fs.readdirSync(p('d'))
fs.renameSync(p('d', 'a'), p('d', 'c')); out.renamedFrom = st('d/a'); out.renamedTo = st('d/c').size
fs.writeFileSync(p('d', 'a'), 'new file'); out.recreated = st('d/a').size
fs.readdirSync(p('d'))
fs.renameSync(p('d'), p('e')); out.oldDir = st('d/b'); out.newDir = st('e/b').size
fs.unlinkSync(p('e', 'b')); out.unlinked = st('e/b')
fs.rmSync(p('e'), { recursive: true }); fs.mkdirSync(p('e')); out.dirReplaced = st('e').dir; out.oldChild = st('e/c')
fs.writeFileSync(p('e', 'c'), 'z'.repeat(7)); fs.readdirSync(p('e')); out.listedThenStat = st('e/c').size
process.stdout.write(JSON.stringify(out))
`

t.test('the attribute cache answers repeated stats and never a stale one', { skip: process.getuid?.() !== 0 ? 'needs root to drop the kernel caches' : false }, async (t) => {
  const net = await startNetwork(t, { hosts: 3, mirrors: 3 })
  const user = await newUser(t, net, 'attrs@example.com')
  const m = await mount(t, user)
  const r = await nodeJson(script, m.dir)
  t.same(r, {
    first: { size: 1, mode: '644', mtime: (r.first as { mtime: number }).mtime, dir: false },
    again: r.first,
    appended: 5,
    utimes: 1600000000000,
    chmod: '600',
    truncated: 2,
    whileOpen: 110,
    fstatWhileOpen: 210,
    ftruncated: 110,
    afterClose: 110,
    renamedFrom: 'ENOENT',
    renamedTo: 110,
    recreated: 8,
    oldDir: 'ENOENT',
    newDir: 2,
    unlinked: 'ENOENT',
    dirReplaced: true,
    oldChild: 'ENOENT',
    listedThenStat: 7,
  })
  // The daemon writes its status every second.
  await new Promise((r) => setTimeout(r, 1500))
  const status = JSON.parse(await user.ok('status', '--json')) as { attrCache: { hits: number; misses: number } | null }
  if (attrCache) {
    t.ok(status.attrCache, 'status reports the attribute cache')
    t.ok(status.attrCache!.hits > 0, `stats were answered by the cache (${JSON.stringify(status.attrCache)})`)
  } else {
    t.equal(status.attrCache, null, 'the prebuilt addon has no attribute cache')
  }
})

t.test('attrCache off: every stat goes to the daemon', { skip: process.getuid?.() !== 0 ? 'needs root to drop the kernel caches' : false }, async (t) => {
  const net = await startNetwork(t, { hosts: 3, mirrors: 3 })
  const user = await newUser(t, net, 'attrs-off@example.com')
  await user.ok('config', 'set', 'attrCache', 'off')
  const m = await mount(t, user)
  await sh(`mkdir '${m.dir}/d' && touch '${m.dir}/d/a' && ls '${m.dir}/d' > /dev/null && echo 2 > /proc/sys/vm/drop_caches && stat '${m.dir}/d/a' > /dev/null`)
  await new Promise((r) => setTimeout(r, 1500))
  const status = JSON.parse(await user.ok('status', '--json')) as { attrCache: unknown }
  t.equal(status.attrCache, null)
  const bad = await user.xcloud('config', 'set', 'attrCache', 'maybe')
  t.not(bad.code, 0)
  t.match(bad.stderr, /attrCache must be one of on, off/)
})
