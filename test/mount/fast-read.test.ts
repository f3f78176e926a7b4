/**
 * Reads of a file that is exactly its network version are answered on libfuse's threads, straight
 * from the shards in the daemon's memory (native-deps/attr-cache.c). They must return the
 * version's bytes, and never bytes that a change has replaced: a write through another handle, a
 * truncate, a new version from another device. The reads run in a child node process (never in
 * the test process), dropping the kernel's page cache so that each one reaches the daemon.
 */
import t from 'tap'
import { fastReads } from '../../src/client/fuse/attr-cache.js'
import { loginDevice, newUser, startNetwork } from '../helpers/network.js'
import { mount, nodeJson, sh, until } from '../helpers/mount.js'

const MiB = 1024 * 1024

const script = String.raw`
const fs = require('fs'), path = require('path'), crypto = require('crypto')
const root = process.argv[1]
const p = (...a) => path.join(root, ...a)
const drop = () => fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
const pread = (fd, len, pos) => { drop(); const b = Buffer.alloc(len); const n = fs.readSync(fd, b, 0, len, pos); return b.subarray(0, n) }
const out = {}

// The whole file in 128 KiB reads through one handle, in order.
const r = fs.openSync(p('big.bin'), 'r')
const size = fs.fstatSync(r).size
const parts = []
for (let pos = 0; pos < size; pos += 128 * 1024) parts.push(pread(r, 128 * 1024, pos))
out.sequential = sha(Buffer.concat(parts))

// Shard 0 is in memory and this handle was handed over for it: a write through another handle
// must be what the next read sees, on both sides of the shard's old bytes.
const before = pread(r, 256 * 1024, 0)
const w = fs.openSync(p('big.bin'), 'r+')
fs.writeSync(w, Buffer.alloc(4096, 0x5a), 0, 4096, 128 * 1024)
fs.closeSync(w)
const after = pread(r, 256 * 1024, 0)
out.unchangedHead = after.subarray(0, 128 * 1024).equals(before.subarray(0, 128 * 1024))
out.written = after.subarray(128 * 1024, 132 * 1024).every((b) => b === 0x5a)
out.unchangedTail = after.subarray(132 * 1024).equals(before.subarray(132 * 1024))
fs.closeSync(r)

// A truncate through another handle: the first handle reads the shorter file.
const r2 = fs.openSync(p('second.bin'), 'r')
out.secondHead = pread(r2, 128 * 1024, 0).length
pread(r2, 128 * 1024, 128 * 1024)
fs.truncateSync(p('second.bin'), 64 * 1024)
out.afterTruncate = pread(r2, 128 * 1024, 0).length
out.pastEnd = pread(r2, 128 * 1024, 128 * 1024).length
fs.closeSync(r2)
process.stdout.write(JSON.stringify(out))
`

t.test('reads below JavaScript return the version, and never bytes a change replaced', async (t) => {
  const net = await startNetwork(t, { hosts: 3, mirrors: 3 })
  const a = await newUser(t, net, 'fastread@example.com')
  const ma = await mount(t, a)
  await sh(`head -c ${12 * MiB} /dev/urandom > '${ma.dir}/big.bin' && head -c ${4 * MiB} /dev/urandom > '${ma.dir}/second.bin'`)
  const want = (await sh(`sha256sum < '${ma.dir}/big.bin'`)).stdout.split(' ')[0]
  t.equal(await ma.stop(), 0, 'the first device stops with everything uploaded')

  // A second device has nothing cached: every shard comes from the network into memory.
  const b = await loginDevice(t, net, 'fastread@example.com')
  const mb = await mount(t, b)
  const r = await nodeJson(script, mb.dir)
  t.same(r, { sequential: want, unchangedHead: true, written: true, unchangedTail: true, secondHead: 128 * 1024, afterTruncate: 64 * 1024, pastEnd: 0 })
  await new Promise((resolve) => setTimeout(resolve, 1500)) // the daemon writes its status every second
  const status = JSON.parse(await b.ok('status', '--json')) as { nativeReads: number | null }
  if (fastReads) t.ok(status.nativeReads! > 0, `reads answered straight from memory (${status.nativeReads})`)
  else t.equal(status.nativeReads, null, 'the prebuilt addon answers no reads itself')

  // A new version from the other device while this one has the file open and in memory.
  const ma2 = await mount(t, a)
  await sh(`head -c ${6 * MiB} /dev/urandom > '${ma2.dir}/fresh.bin' && cp '${ma2.dir}/big.bin' '${ma2.dir}/copy.bin'`)
  const freshWant = (await sh(`sha256sum < '${ma2.dir}/fresh.bin'`)).stdout
  await until(async () => (await sh(`test -e '${mb.dir}/fresh.bin'`, { allowFail: true })).code === 0, 10_000, 'fresh.bin on the second device')
  const reader = String.raw`
const fs = require('fs'), path = require('path'), crypto = require('crypto')
const [root, other] = process.argv.slice(1)
const drop = () => fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
// One handle, held open all along: the native side was handed it for the old version's shards.
const fd = fs.openSync(path.join(root, 'fresh.bin'), 'r')
const digest = () => {
  drop()
  const b = Buffer.alloc(6 * 1024 * 1024)
  let n = 0
  for (let pos = 0; pos < b.length; pos += 128 * 1024) n += fs.readSync(fd, b, pos, 128 * 1024, pos)
  return crypto.createHash('sha256').update(b.subarray(0, n)).digest('hex')
}
const first = digest()
// The other device overwrites it (a new version, same size) while this one reads it again and again.
fs.writeFileSync(path.join(other, 'fresh.bin'), Buffer.alloc(6 * 1024 * 1024, 7))
const zeros = crypto.createHash('sha256').update(Buffer.alloc(6 * 1024 * 1024, 7)).digest('hex')
let last = first
const until = Date.now() + 15000
while (Date.now() < until && (last = digest()) !== zeros) { /* a read may straddle the switch; the next one must not */ }
fs.closeSync(fd)
process.stdout.write(JSON.stringify({ first, last, zeros }))
`
  const seen = await nodeJson<{ first: string; last: string; zeros: string }>(reader, mb.dir, ma2.dir)
  t.equal(`${seen.first}  -\n`, freshWant, 'the version read first is the one written')
  t.equal(seen.last, seen.zeros, 'after the other device changed it, reads through the same handle return the new version')
  t.equal(await ma2.stop(), 0)
  t.equal(await mb.stop(), 0)
})
