/**
 * The VFS without FUSE: POSIX semantics and errno over a real local state and staging folder, with
 * the network replaced by an in-memory base version (so partial-shard logic is checked exactly).
 */
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { LocalState } from '../../src/client/state/local-state.js'
import { Staging } from '../../src/client/vfs/staging.js'
import { FsError } from '../../src/client/vfs/errno.js'
import { Vfs } from '../../src/client/vfs/vfs.js'
import type { RemoteContent } from '../../src/client/vfs/remote-content.js'

const SHARD = 64 // tiny shards make boundaries easy to hit
const O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_EXCL = 0o200, O_TRUNC = 0o1000, O_APPEND = 0o2000

function setup(t: Test, inMemory = false) {
  const dir = mkdtempSync(path.join(tmpdir(), 'xcloud-vfs-'))
  const state = new LocalState(path.join(dir, 'state.db'))
  const staging = new Staging(path.join(dir, 'staging'))
  const base = new Map<string, Buffer>() // versionId -> plaintext
  const fetched: number[] = []
  const remote = {
    async withShard<T>(_remoteId: string, versionId: string, idx: number, use: (b: Buffer) => T): Promise<T> {
      fetched.push(idx)
      const b = base.get(versionId)!
      return use(b.subarray(idx * SHARD, Math.min(b.length, (idx + 1) * SHARD)))
    },
    // With `inMemory`, every network shard counts as already in memory (read-ahead fetched it).
    withShardNow<T>(_remoteId: string, versionId: string, idx: number, use: (b: Buffer) => T): { value: T } | undefined {
      if (!inMemory) return undefined
      const b = base.get(versionId)!
      return { value: use(b.subarray(idx * SHARD, Math.min(b.length, (idx + 1) * SHARD))) }
    },
  } as unknown as RemoteContent
  const closed: number[] = []
  const vfs = new Vfs(state, staging, remote, {
    contentClosed: (ino) => closed.push(ino),
    journalChanged: () => {},
    capacity: () => ({ total: 1 << 30, used: 1 << 20 }),
  }, { shardSize: SHARD })
  t.teardown(() => { state.close(); rmSync(dir, { recursive: true, force: true }) })
  /** A file that exists only on the network, as a pull would have recorded it. */
  const remoteFile = (name: string, bytes: Buffer): number => {
    base.set(`v-${name}`, bytes)
    return state.insert({
      parent: 1, name, kind: 'file', mode: 0o644, size: bytes.length, mtime: 1, ctime: 1, target: null,
      remoteId: `r-${name}`, remoteRev: 1, versionId: `v-${name}`, baseSize: bytes.length, staged: false, dirty: false,
    }).ino
  }
  return { vfs, state, fetched, closed, remoteFile }
}

const errno = async (fn: () => unknown): Promise<string> => {
  try { await fn(); return 'ok' } catch (e) { return e instanceof FsError ? e.errno : `not an FsError: ${String(e)}` }
}

async function readAll(vfs: Vfs, p: string): Promise<Buffer> {
  const fh = await vfs.open(p, O_RDONLY)
  const size = vfs.getattr(p).size
  const buf = Buffer.alloc(size)
  const n = await vfs.read(fh, buf, size, 0)
  vfs.release(fh)
  return buf.subarray(0, n)
}

t.test('namespace calls and their errno', async (t) => {
  const { vfs, state } = setup(t)
  vfs.mkdir('/a', 0o755)
  t.equal(await errno(() => vfs.mkdir('/a', 0o755)), 'EEXIST')
  t.equal(await errno(() => vfs.mkdir('/x/y', 0o755)), 'ENOENT')
  const fh = await vfs.create('/a/f', 0o644, O_WRONLY | O_CREAT)
  await vfs.write(fh, Buffer.from('hello'), 5, 0)
  vfs.release(fh)
  t.equal(await errno(() => vfs.create('/a/f', 0o644, O_WRONLY | O_CREAT | O_EXCL)), 'EEXIST')
  t.equal(await errno(() => vfs.rmdir('/a')), 'ENOTEMPTY')
  t.equal(await errno(() => vfs.unlink('/a')), 'EISDIR')
  t.equal(await errno(() => vfs.rmdir('/a/f')), 'ENOTDIR')
  t.equal(await errno(() => vfs.getattr('/a/f/g')), 'ENOTDIR')
  t.equal(await errno(() => vfs.open('/a', O_WRONLY)), 'EISDIR')
  t.equal(await errno(() => vfs.mkdir('/' + 'n'.repeat(256), 0o755)), 'ENAMETOOLONG')
  t.equal(await errno(() => vfs.mkdir('/' + 'n'.repeat(255), 0o755)), 'ok')
  t.equal(await errno(() => vfs.rename('/a', '/a/inside')), 'EINVAL')
  vfs.mkdir('/b', 0o755)
  t.equal(await errno(() => vfs.rename('/a/f', '/b')), 'EISDIR', 'a file cannot replace a folder')
  t.equal(await errno(() => vfs.rename('/b', '/a/f')), 'ENOTDIR', 'a folder cannot replace a file')
  t.equal(await errno(() => vfs.rename('/b', '/a')), 'ENOTEMPTY')
  vfs.rename('/a/f', '/b/g')
  t.equal((await readAll(vfs, '/b/g')).toString(), 'hello')
  t.equal(await errno(() => vfs.getattr('/a/f')), 'ENOENT')
  vfs.symlink('b/g', '/l')
  t.equal(vfs.readlink('/l'), 'b/g')
  t.equal(await errno(() => vfs.readlink('/b/g')), 'EINVAL')
  vfs.chmod('/b/g', 0o600)
  t.equal(vfs.getattr('/b/g').mode & 0o7777, 0o600)
  vfs.utimens('/b/g', 5_000, 7_000)
  t.equal(vfs.getattr('/b/g').mtime.getTime(), 7_000)
  const ops = state.pendingOps(100).map((o) => o.kind)
  t.same(ops.filter((k) => k === 'create').length, 4, 'mkdir x3 and symlink journaled as creates')
  t.ok(ops.includes('move') && ops.includes('meta'))
  const st = vfs.statfs()
  t.equal(st.namemax, 255)
  t.equal(st.bsize * st.blocks, 1 << 30)
})

t.test('open flags: O_TRUNC, O_APPEND, O_RDONLY writes, rename over an open file', async (t) => {
  const { vfs, closed } = setup(t)
  let fh = await vfs.create('/f', 0o644, O_RDWR | O_CREAT)
  await vfs.write(fh, Buffer.from('0123456789'), 10, 0)
  vfs.release(fh)
  t.equal(closed.length, 1, 'a written file is queued on close')
  fh = await vfs.open('/f', O_WRONLY | O_APPEND)
  await vfs.write(fh, Buffer.from('ab'), 2, 0) // O_APPEND: the offset is ignored
  vfs.release(fh)
  t.equal((await readAll(vfs, '/f')).toString(), '0123456789ab')
  fh = await vfs.open('/f', O_RDONLY)
  t.equal(await errno(() => vfs.write(fh, Buffer.from('x'), 1, 0)), 'EBADF')
  vfs.release(fh)
  fh = await vfs.open('/f', O_WRONLY | O_TRUNC)
  vfs.release(fh)
  t.equal(vfs.getattr('/f').size, 0)
  // Replace a file that a reader still has open: the reader keeps the old bytes.
  fh = await vfs.create('/old', 0o644, O_RDWR | O_CREAT)
  await vfs.write(fh, Buffer.from('old'), 3, 0)
  vfs.release(fh)
  const reader = await vfs.open('/old', O_RDONLY)
  const tmp = await vfs.create('/new', 0o644, O_RDWR | O_CREAT)
  await vfs.write(tmp, Buffer.from('new!'), 4, 0)
  await vfs.fsync(tmp)
  vfs.release(tmp)
  vfs.rename('/new', '/old')
  t.equal((await readAll(vfs, '/old')).toString(), 'new!')
  const buf = Buffer.alloc(3)
  t.equal(await vfs.read(reader, buf, 3, 0), 3)
  t.equal(buf.toString(), 'old', 'an open handle still reads the replaced file')
  vfs.release(reader)
})

t.test('writes into a network file stage only the shards they touch, whole', async (t) => {
  const { vfs, state, fetched, remoteFile } = setup(t)
  const bytes = Buffer.alloc(10 * SHARD + 10)
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251
  const ino = remoteFile('big', bytes)
  const fh = await vfs.open('/big', O_RDWR)
  // 4 bytes across the boundary of shards 3 and 4.
  await vfs.write(fh, Buffer.from('WXYZ'), 4, 4 * SHARD - 2)
  t.same([...new Set(fetched)].sort(), [3, 4], 'only the two touched shards came from the network')
  const dirty = [...state.shards(ino).entries()].filter(([, g]) => g !== null).map(([i]) => i)
  t.same(dirty, [3, 4], 'and only they are dirty')
  fetched.length = 0
  // A whole-shard write needs no fetch.
  await vfs.write(fh, Buffer.alloc(SHARD, 7), SHARD, 6 * SHARD)
  t.same(fetched, [], 'a write covering a whole shard fetches nothing')
  vfs.release(fh)
  const want = Buffer.from(bytes)
  want.write('WXYZ', 4 * SHARD - 2)
  want.fill(7, 6 * SHARD, 7 * SHARD)
  t.same(await readAll(vfs, '/big'), want, 'reads merge staged shards and network shards')
})

t.test('truncate a network file, then extend it: the tail reads as zeros', async (t) => {
  const { vfs, remoteFile } = setup(t)
  const bytes = Buffer.alloc(5 * SHARD, 0xaa)
  remoteFile('t', bytes)
  await vfs.truncate('/t', 2 * SHARD + 5)
  t.equal(vfs.getattr('/t').size, 2 * SHARD + 5)
  const fh = await vfs.open('/t', O_RDWR)
  await vfs.ftruncate(fh, 4 * SHARD)
  vfs.release(fh)
  const got = await readAll(vfs, '/t')
  const want = Buffer.alloc(4 * SHARD)
  want.fill(0xaa, 0, 2 * SHARD + 5)
  t.same(got, want)
})

t.test('writes taken below JavaScript are accounted as if the VFS had taken them', async (t) => {
  const { vfs, state, closed, remoteFile } = setup(t)
  const { writeSync } = await import('node:fs')
  // What the native side does: write into the descriptor it was given, remember the range.
  const native = new Map<number, { fd: number; lo: number; hi: number; at: number; pending: boolean }>()
  const opened: number[] = []
  const closedFh: number[] = []
  let last = 0
  const AT = Date.now() + 60_000 // later than anything the VFS did itself
  vfs.fastWrites = {
    open: (fh, fd) => { native.set(fh, { fd, lo: 0, hi: 0, at: 0, pending: false }); opened.push(fh); return true },
    take: (fh) => {
      const e = native.get(fh)
      if (!e?.pending) return null
      e.pending = false
      return { lo: e.lo, hi: e.hi, at: e.at }
    },
    close: (fh) => { native.delete(fh); closedFh.push(fh) },
    lastWriteAt: () => last,
  }
  const nativeWrite = (fh: number, data: Buffer, pos: number): void => {
    const e = native.get(fh)!
    writeSync(e.fd, data, 0, data.length, pos)
    e.lo = e.pending ? Math.min(e.lo, pos) : pos
    e.hi = e.pending ? Math.max(e.hi, pos + data.length) : pos + data.length
    e.pending = true
    e.at = last = AT
  }

  const fh = await vfs.create('/n', 0o644, O_WRONLY | O_CREAT)
  t.same(opened, [fh], 'a new file\'s handle is handed over')
  const ino = vfs.getattr('/n').ino
  const data = Buffer.alloc(3 * SHARD + 5)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256
  nativeWrite(fh, data, 0)
  t.equal(vfs.getattr('/n').size, data.length, 'getattr sees the native writes')
  t.equal(vfs.getattr('/n').mtime.getTime(), AT, 'and their time')
  t.same([...state.shards(ino).keys()], [0, 1, 2, 3], 'the shards they touched are dirty')
  t.equal(vfs.lastActivity, AT, 'they count as activity')
  t.same(await readAll(vfs, '/n'), data, 'a read through another handle sees the bytes')
  nativeWrite(fh, Buffer.from('tail'), 10 * SHARD)
  await vfs.flush(fh)
  t.same(closed, [ino], 'flush takes the last writes and queues the upload')
  t.equal(state.must(ino).size, 10 * SHARD + 4, 'with the size in the row')
  t.ok(state.shard(ino, 10) !== undefined, 'and the shard of the last write dirty')
  vfs.release(fh)
  t.same(closedFh, [fh], 'release lets the native side forget the handle')

  opened.length = 0
  remoteFile('net', Buffer.alloc(5 * SHARD, 1))
  const keep = await vfs.open('/net', O_RDWR)
  const appN = await vfs.open('/n', O_WRONLY | O_APPEND)
  t.same(opened, [], 'a file with earlier content, or an append, stays with JavaScript')
  vfs.release(keep)
  vfs.release(appN)
  const trunc = await vfs.open('/net', O_WRONLY | O_TRUNC)
  t.same(opened, [trunc], 'truncated to zero at open: every byte is new, so it is handed over')
  nativeWrite(trunc, Buffer.from('new'), 0)
  const app = await vfs.open('/net', O_WRONLY | O_APPEND)
  await vfs.write(app, Buffer.from('!'), 1, 0)
  vfs.release(app)
  vfs.release(trunc)
  t.same(await readAll(vfs, '/net'), Buffer.from('new!'), 'an append lands after the native writes not yet taken')
})

t.test('reads of network shards in memory are answered at once, and never over staged bytes', async (t) => {
  const { vfs, remoteFile } = setup(t, true)
  const bytes = Buffer.alloc(6 * SHARD + 9)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) % 256
  remoteFile('m', bytes)
  const fh = await vfs.open('/m', O_RDWR)
  const out = Buffer.alloc(3 * SHARD)
  const n = vfs.read(fh, out, 3 * SHARD, SHARD + 7)
  t.equal(n, 3 * SHARD, 'a number, not a promise: answered in the same step')
  t.same(out, bytes.subarray(SHARD + 7, 4 * SHARD + 7), 'across shard boundaries, the right bytes')
  t.equal(vfs.read(fh, Buffer.alloc(100), 100, 6 * SHARD), 9, 'a short read at the end of the file')
  await vfs.write(fh, Buffer.from('LOCAL'), 5, 2 * SHARD + 1)
  const r = vfs.read(fh, out, 3 * SHARD, SHARD + 7)
  t.ok(r instanceof Promise, 'a range with a staged shard goes to staging')
  await r
  const want = Buffer.from(bytes)
  want.write('LOCAL', 2 * SHARD + 1)
  t.same(out, want.subarray(SHARD + 7, 4 * SHARD + 7), 'and sees the local write')
  vfs.release(fh)
})

t.test('errno answers carry no stack trace; EIO, a fault, keeps its own', async (t) => {
  const { vfs } = setup(t)
  const miss = (() => { try { vfs.getattr('/no/such/file'); return null } catch (err) { return err } })()
  t.ok(miss instanceof FsError && miss.errno === 'ENOENT', 'a lookup miss is ENOENT')
  t.equal((miss as Error).stack?.split('\n').length, 1, 'with only its message for a stack')
  t.equal((miss as Error).message, 'ENOENT: /no/such/file')
  const fault = new FsError('EIO', 'disk')
  t.ok((fault.stack?.split('\n').length ?? 0) > 1, 'EIO is traced to where it was raised')
  t.ok(Error.stackTraceLimit > 0, 'and the process-wide limit is left as it was')
})
