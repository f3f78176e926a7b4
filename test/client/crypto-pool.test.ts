import t from 'tap'
import { randomBytes } from 'node:crypto'
import { cryptoPool } from '../../src/client/transfer/crypto-pool.js'
import { encryptShard, generateFileKey } from '../../src/shared/crypto/index.js'

const MiB = 1024 * 1024

function whole(data: Buffer): Buffer {
  // The pool takes buffers that own their ArrayBuffer from offset 0, like pooled shard buffers.
  const b = Buffer.allocUnsafeSlow(data.length)
  data.copy(b)
  return b
}

t.test('a pool that was made but never used does not keep the process alive', async (t) => {
  const { execFile } = await import('node:child_process')
  const url = new URL('../../src/client/transfer/crypto-pool.js', import.meta.url).href
  const code = `import(${JSON.stringify(url)}).then((m) => { m.cryptoPool() })`
  const began = Date.now()
  const exit = await new Promise<number | null>((resolve) => {
    const child = execFile(process.execPath, ['-e', code], { timeout: 10_000 }, () => resolve(child.exitCode))
  })
  t.equal(exit, 0, `the process exited on its own (${Date.now() - began} ms)`)
})

t.test('verifies, then decrypts in place off the main thread', async (t) => {
  const key = generateFileKey()
  const plain = randomBytes(2 * MiB)
  const { iv, ciphertext, hash } = encryptShard(key, plain)
  const r = await cryptoPool().verifyDecrypt(key, iv, hash, whole(ciphertext))
  t.equal(r.ok, true)
  t.equal(r.data.length, plain.length, 'the buffer comes back')
  t.ok(r.data.equals(plain), 'holding the plaintext')
})

t.test('a wrong hash is a mismatch, and nothing is decrypted', async (t) => {
  const key = generateFileKey()
  const { iv, ciphertext } = encryptShard(key, randomBytes(MiB))
  const tampered = whole(ciphertext)
  tampered[12345] ^= 1
  const { hash } = encryptShard(key, randomBytes(16))
  const r = await cryptoPool().verifyDecrypt(key, iv, hash, tampered)
  t.equal(r.ok, false)
  t.equal(r.data.length, MiB, 'the buffer comes back for reuse')
})

t.test('many shards at once come back matched to their requests', async (t) => {
  const key = generateFileKey()
  const shards = Array.from({ length: 24 }, () => {
    const plain = randomBytes(256 * 1024 + Math.floor(Math.random() * 1000))
    return { plain, ...encryptShard(key, plain) }
  })
  const results = await Promise.all(shards.map((s) => cryptoPool().verifyDecrypt(key, s.iv, s.hash, whole(s.ciphertext))))
  results.forEach((r, i) => t.ok(r.ok && r.data.equals(shards[i]!.plain), `shard ${i}`))
})

t.test('seals a shard off the main thread: ciphertext, hash and challenges as inline', async (t) => {
  const { challengeDigest } = await import('../../src/shared/orders.js')
  const key = generateFileKey()
  const plain = randomBytes(2 * MiB - 12345)
  const salts = [randomBytes(16), randomBytes(16)]
  const expected = encryptShard(key, plain, randomBytes(16))
  const r = await cryptoPool().seal(key, expected.iv, whole(plain), Buffer.allocUnsafeSlow(2 * MiB), salts)
  t.ok(r.ciphertext.equals(expected.ciphertext), 'same ciphertext as encryptShard with that IV')
  t.equal(r.hash, expected.hash)
  t.same(r.digests, salts.map((s) => challengeDigest(s.toString('base64url'), expected.ciphertext)), 'each challenge is SHA-256(salt ‖ ciphertext)')
  t.ok(r.plain.equals(plain), 'the plaintext buffer comes back untouched')
  t.equal(r.plain.length, plain.length)
})

t.test('seals several shards in one job: each as inline, in the order asked', async (t) => {
  const { challengeDigest } = await import('../../src/shared/orders.js')
  const key = generateFileKey()
  const sizes = [2 * MiB, 2 * MiB - 1, 300_001, 2 * MiB, 65_536, 1_000_000, 2 * MiB]
  const shards = sizes.map((size) => ({ plain: randomBytes(size), iv: randomBytes(16), salts: [randomBytes(16), randomBytes(16)] }))
  const sealed = await cryptoPool().sealMany(shards.map((s) => ({ key, iv: s.iv, plain: whole(s.plain), out: Buffer.allocUnsafeSlow(2 * MiB), salts: s.salts })))
  t.equal(sealed.length, shards.length)
  sealed.forEach((r, i) => {
    const s = shards[i]!
    const want = encryptShard(key, s.plain, s.iv)
    t.ok(r.ciphertext.equals(want.ciphertext) && r.hash === want.hash, `shard ${i} (${sizes[i]} bytes): ciphertext and hash`)
    t.same(r.digests, s.salts.map((salt) => challengeDigest(salt.toString('base64url'), want.ciphertext)), `shard ${i}: challenges`)
    t.ok(r.plain.equals(s.plain), `shard ${i}: the plaintext buffer comes back untouched`)
  })
})

t.test('seals shards in place: the ciphertext comes back in the plaintext\'s buffer', async (t) => {
  const key = generateFileKey()
  const plains = [2 * MiB, 300_001, 2 * MiB - 7].map((n) => randomBytes(n))
  const bufs = plains.map(whole)
  const shards = bufs.map((b) => ({ key, iv: randomBytes(16), plain: b, out: b, salts: [randomBytes(16), randomBytes(16)] }))
  const ivs = shards.map((s) => s.iv)
  const sealed = await cryptoPool().sealMany(shards)
  sealed.forEach((r, i) => {
    const want = encryptShard(key, plains[i]!, ivs[i])
    t.ok(r.ciphertext.equals(want.ciphertext) && r.hash === want.hash, `shard ${i}: ciphertext and hash`)
    t.equal(r.ciphertext.buffer, r.plain.buffer, `shard ${i}: one buffer`)
  })
  const one = whole(randomBytes(MiB))
  t.throws(() => cryptoPool().sealMany([{ key, iv: randomBytes(16), plain: one, out: one, salts: [] }, { key, iv: randomBytes(16), plain: whole(randomBytes(MiB)), out: one, salts: [] }]), { code: 'XC_INTERNAL' }, 'a buffer in place for one shard and the output of another')
})

t.test('seal many refuses buffers it cannot move, or one buffer twice', async (t) => {
  const key = generateFileKey()
  const good = (): { key: Buffer; iv: Buffer; plain: Buffer; out: Buffer; salts: Buffer[] } => ({ key, iv: randomBytes(16), plain: whole(randomBytes(MiB)), out: Buffer.allocUnsafeSlow(MiB), salts: [] })
  t.throws(() => cryptoPool().sealMany([good(), { ...good(), plain: Buffer.allocUnsafeSlow(MiB + 16).subarray(16) }]), { code: 'XC_INTERNAL' }, 'a view that does not start its memory')
  const shared = good()
  t.throws(() => cryptoPool().sealMany([shared, { ...good(), out: shared.out }]), { code: 'XC_INTERNAL' }, 'one output for two shards')
  await t.rejects(cryptoPool().sealMany([good(), { ...good(), key: Buffer.alloc(7) }]), { code: 'XC_INTERNAL' }, 'a wrong key size fails the job, not the worker')
  t.equal((await cryptoPool().sealMany([good(), good()])).length, 2, 'the pool still works afterwards')
})

t.test('seal refuses buffers it cannot move to the worker', async (t) => {
  const key = generateFileKey()
  const slice = Buffer.allocUnsafeSlow(MiB + 16).subarray(16)
  t.throws(() => cryptoPool().seal(key, randomBytes(16), slice, Buffer.allocUnsafeSlow(MiB), []), { code: 'XC_INTERNAL' })
  t.throws(() => cryptoPool().seal(key, randomBytes(16), whole(randomBytes(MiB)), Buffer.allocUnsafeSlow(MiB - 1), []), { code: 'XC_INTERNAL' })
})

t.test('a seal that fails in the worker rejects, and the buffers come back', async (t) => {
  const r = cryptoPool().seal(Buffer.alloc(7), randomBytes(16), whole(randomBytes(MiB)), Buffer.allocUnsafeSlow(MiB), [])
  await t.rejects(r, { code: 'XC_INTERNAL' }, 'a wrong key size is an error, not a hang')
  const ok = await cryptoPool().seal(generateFileKey(), randomBytes(16), whole(randomBytes(MiB)), Buffer.allocUnsafeSlow(MiB), [randomBytes(16)])
  t.equal(ok.digests.length, 1, 'the pool still works afterwards')
})

t.test('a worker that exits or throws fails its jobs instead of hanging them, and is replaced', async (t) => {
  const { CryptoPool } = await import('../../src/client/transfer/crypto-pool.js')
  const script = new URL('./helpers/failing-crypto-worker.js', import.meta.url)
  for (const how of ['exit', 'throw']) {
    process.env.XC_TEST_WORKER_FAILS = how
    const pool = new CryptoPool(1, script)
    const key = generateFileKey()
    const { iv, ciphertext, hash } = encryptShard(key, randomBytes(MiB))
    await t.rejects(pool.verifyDecrypt(key, iv, hash, whole(ciphertext)), { code: 'XC_INTERNAL' }, `${how}: the job fails`)
    await t.rejects(pool.seal(key, iv, whole(randomBytes(MiB)), Buffer.allocUnsafeSlow(MiB), []), { code: 'XC_INTERNAL' }, `${how}: the next job goes to a fresh worker, which fails the same way`)
  }
  delete process.env.XC_TEST_WORKER_FAILS
})

t.test('a pool says when a worker can take jobs', async (t) => {
  const { CryptoPool } = await import('../../src/client/transfer/crypto-pool.js')
  const pool = new CryptoPool(1)
  t.equal(pool.ready(), false, 'not while its thread starts')
  const began = Date.now()
  while (!pool.ready() && Date.now() - began < 10_000) await new Promise((r) => setTimeout(r, 5))
  t.equal(pool.ready(), true, `then ready (${Date.now() - began} ms)`)
  const key = generateFileKey()
  const { iv, ciphertext, hash } = encryptShard(key, randomBytes(MiB))
  t.equal((await pool.verifyDecrypt(key, iv, hash, whole(ciphertext))).ok, true, 'and it works')
})

t.test('small buffers cut from Node\'s shared pool are never moved to a worker', async (t) => {
  const { transferable } = await import('../../src/client/transfer/crypto-pool.js')
  const small = Buffer.allocUnsafe(100)
  t.equal(transferable(small), false, 'a buffer from the shared pool')
  t.equal(transferable(Buffer.allocUnsafeSlow(64 * 1024)), true, 'a buffer with its own memory')
  t.equal(transferable(Buffer.allocUnsafeSlow(2 * MiB).subarray(0, MiB)), true, 'a pooled shard buffer cut to a shorter shard')
  t.equal(transferable(Buffer.allocUnsafeSlow(2 * MiB).subarray(1)), false, 'a view that does not start its memory')
})

t.test('shared buffers are worked on where they are, by each worker, job after job', async (t) => {
  const { CryptoPool, movable } = await import('../../src/client/transfer/crypto-pool.js')
  const pool = new CryptoPool(2)
  const key = generateFileKey()
  const bufs = [0, 1, 2].map(() => Buffer.from(new SharedArrayBuffer(2 * MiB)))
  t.ok(bufs.every(movable), 'shared memory from its start is taken')
  t.equal(movable(bufs[0]!.subarray(1)), false, 'a view that does not start it is not')
  let right = 0
  for (let round = 0; round < 8; round++) {
    const jobs = bufs.map(async (buf, i) => {
      const plain = randomBytes(2 * MiB - round * 1000 - i)
      const { iv, ciphertext, hash } = encryptShard(key, plain)
      const view = buf.subarray(0, ciphertext.length)
      ciphertext.copy(view)
      const r = await pool.verifyDecrypt(key, iv, hash, view)
      if (r.ok && r.data.buffer === buf.buffer && r.data.equals(plain) && view.length === plain.length) right++
    })
    await Promise.all(jobs)
  }
  t.equal(right, 24, 'every shard verified and decrypted in the caller\'s own memory, which stays usable')
  t.equal(pool.sharedHeld(), 6, 'each worker was sent each buffer once')

  const plains = [randomBytes(2 * MiB), randomBytes(300_001)]
  const inPlace = Buffer.from(new SharedArrayBuffer(2 * MiB)).subarray(0, plains[0]!.length)
  plains[0]!.copy(inPlace)
  const ivs = [randomBytes(16), randomBytes(16)]
  const sealed = await pool.sealMany([
    { key, iv: ivs[0]!, plain: inPlace, out: inPlace, salts: [randomBytes(16)] },
    { key, iv: ivs[1]!, plain: whole(plains[1]!), out: bufs[0]!, salts: [randomBytes(16)] },
  ])
  sealed.forEach((r, i) => t.equal(r.ciphertext.toString('hex'), encryptShard(key, plains[i]!, ivs[i]).ciphertext.toString('hex'), `sealed shard ${i}, shared and moved buffers in one job`))
  t.equal(sealed[0]!.ciphertext.buffer, inPlace.buffer, 'in place, in shared memory')
  t.equal(sealed[1]!.ciphertext.buffer, bufs[0]!.buffer, 'into a shared output')
})

t.test('a shared buffer the main thread drops, the workers drop too', async (t) => {
  const { CryptoPool } = await import('../../src/client/transfer/crypto-pool.js')
  const { setFlagsFromString } = await import('node:v8')
  const { runInNewContext } = await import('node:vm')
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const pool = new CryptoPool(1)
  const key = generateFileKey()
  await (async () => {
    for (let i = 0; i < 4; i++) {
      const { iv, ciphertext, hash } = encryptShard(key, randomBytes(MiB))
      const buf = Buffer.from(new SharedArrayBuffer(MiB))
      ciphertext.copy(buf)
      t.equal((await pool.verifyDecrypt(key, iv, hash, buf)).ok, true)
    }
  })()
  t.equal(pool.sharedHeld(), 4)
  for (let i = 0; i < 50 && pool.sharedHeld() > 0; i++) {
    gc()
    await new Promise((r) => setTimeout(r, 20))
  }
  t.equal(pool.sharedHeld(), 0, 'all let go once collected here')
  const { iv, ciphertext, hash } = encryptShard(key, randomBytes(MiB))
  const buf = Buffer.from(new SharedArrayBuffer(MiB))
  ciphertext.copy(buf)
  t.equal((await pool.verifyDecrypt(key, iv, hash, buf)).ok, true, 'and the worker goes on')
})
