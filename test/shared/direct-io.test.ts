import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { DirectWriter } from '../../src/shared/direct-io.js'

const MiB = 1024 * 1024
const SIZES = [1, 511, 4095, 4096, 4097, 100_000, 2 * MiB - 1, 2 * MiB]

async function roundTrips(t: Test, dir: string): Promise<DirectWriter> {
  const w = await DirectWriter.open(dir, 2 * MiB, 4)
  for (const size of SIZES) {
    const buf = await w.acquire(size)
    t.equal(buf.length, size)
    randomBytes(size).copy(buf)
    const file = path.join(dir, `f-${size}`)
    await w.writeFile(file, buf)
    t.ok((await readFile(file)).equals(buf), `${size} bytes read back identical`)
    w.release(buf)
  }
  // Whole files read back through the pool, whatever their size's alignment.
  for (const size of SIZES) {
    const file = path.join(dir, `f-${size}`)
    const got = await w.readFile(file)
    t.ok(got !== null && got.equals(await readFile(file)), `${size} bytes read whole`)
    if (got) w.release(got)
  }
  const empty = path.join(dir, 'empty')
  await writeFile(empty, '')
  t.equal((await w.readFile(empty))?.length, 0, 'an empty file reads as nothing')
  const big = path.join(dir, 'big')
  await writeFile(big, Buffer.alloc(2 * MiB + 1))
  t.equal(await w.readFile(big), null, 'a file longer than a buffer is not read')
  await t.rejects(w.readFile(path.join(dir, 'missing')), { code: 'ENOENT' })
  await t.rejects(w.readFile(dir), { code: 'ENOENT' }, 'a folder is not a file')
  // Buffers are reused, and a write into an existing name is refused (O_EXCL), never clobbered.
  const again = await w.acquire(10)
  await t.rejects(w.writeFile(path.join(dir, 'f-1'), again), { code: 'EEXIST' })
  return w
}

t.test('writes are byte-exact on the data disk (direct I/O where the file system allows)', async (t) => {
  const dir = await mkdtemp(path.join(t.testdir(), 'dio-'))
  const w = await roundTrips(t, dir)
  t.comment(`direct I/O in ${dir}: ${w.usesDirectIo}`)
})

t.test('writes are byte-exact on tmpfs too (O_DIRECT there depends on the kernel)', async (t) => {
  const base = process.platform === 'linux' ? '/dev/shm' : tmpdir()
  const dir = await mkdtemp(path.join(base, 'xcloud-dio-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const w = await roundTrips(t, dir)
  t.comment(`direct I/O on ${base}: ${w.usesDirectIo}`)
})
