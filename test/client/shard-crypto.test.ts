/**
 * The crypto worker's two implementations of shard crypto, Node's (used when the addon's one-pass
 * functions are missing) and the addon's, against the inline functions of shared/crypto: same
 * ciphertext, hash and challenges, and a verified shard decrypted in place. Sizes cover whole and
 * partial 64 KiB pieces and AES blocks.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { sealJs, verifyDecryptJs } from '../../src/client/transfer/shard-crypto-js.js'
import { verifyDecryptInPlace } from '../../src/client/transfer/native-crypto.js'
import { binding } from '../../src/client/fuse/native-addon.js'
import { encryptShard, generateFileKey } from '../../src/shared/crypto/index.js'
import { challengeDigest } from '../../src/shared/orders.js'

const SIZES = [1, 15, 16, 17, 65_535, 65_536, 65_537, 300_001, 2 * 1024 * 1024 - 1, 2 * 1024 * 1024]
const sealNative = binding()?.xc_seal
const sealMany = binding()?.xc_seal_many

t.test('seal: ciphertext, hash and challenges as inline', async (t) => {
  for (const size of SIZES) {
    const key = generateFileKey()
    const iv = randomBytes(16)
    const plain = randomBytes(size)
    const salts = [randomBytes(16), randomBytes(16)]
    const want = encryptShard(key, plain, iv)
    const wantDigests = salts.map((s) => challengeDigest(s.toString('base64url'), want.ciphertext))

    const out = Buffer.alloc(size)
    const js = sealJs(key, iv, plain, out, salts)
    t.ok(out.equals(want.ciphertext), `${size} bytes, Node's crypto: ciphertext`)
    t.same(js, { hash: want.hash, digests: wantDigests }, `${size} bytes, Node's crypto: hash and challenges`)

    if (sealNative) {
      const nout = Buffer.alloc(size)
      const digests = Buffer.alloc(32 * (salts.length + 1))
      sealNative(key, iv, plain, nout, Buffer.concat(salts), digests)
      t.ok(nout.equals(want.ciphertext), `${size} bytes, addon: ciphertext`)
      t.same([0, 1, 2].map((i) => digests.toString('hex', 32 * i, 32 * (i + 1))), [want.hash, ...wantDigests], `${size} bytes, addon: hash and challenges`)
    }
  }
  t.same(sealJs(generateFileKey(), randomBytes(16), randomBytes(10), Buffer.alloc(10), []).digests, [], 'no salts, no challenges')
})

// Lengths around the SHA-256 block edges for a message alone and behind a 16-byte salt (the
// padding needs one block or two), and around the 64 KiB pieces encryption goes by.
const EDGES = [0, 1, 15, 16, 47, 48, 49, 55, 56, 63, 64, 65, 111, 112, 119, 120, 127, 128, 1000, 65_535, 65_536, 65_537, 300_001, 2 * 1024 * 1024]

t.test('seal many: each shard as sealed alone, for any mix of lengths, salts and batch sizes', { skip: sealMany ? false : 'the addon is not built' }, async (t) => {
  const lanes = binding()!.xc_seal_lanes!()
  t.comment(`SHA-256 lanes on this CPU: ${lanes}`)
  // What the CPU says it has (Linux): with AVX-512 F and BW the sixteen-lane hash must be in use,
  // so that this test exercises it rather than the fallback.
  const flags = await readFile('/proc/cpuinfo', 'utf8').then((c) => /^flags\s*:(.*)$/m.exec(c)?.[1]?.split(/\s+/) ?? [], () => null)
  if (flags) t.equal(lanes, flags.includes('avx512f') && flags.includes('avx512bw') ? 16 : 1, 'sixteen lanes exactly when the CPU has AVX-512 F and BW')
  else t.ok(lanes === 16 || lanes === 1, 'sixteen lanes with AVX-512, else one message at a time')
  let checked = 0
  let wrong = 0
  let k = 0
  for (const per of [0, 1, 2, 3, 7, 15]) {
    for (const n of [1, 2, 3, 5, 6, 7, 11, 17]) {
      const shards = Array.from({ length: n }, () => ({
        key: generateFileKey(),
        iv: randomBytes(16),
        plain: randomBytes(EDGES[k++ % EDGES.length]!),
        salts: Array.from({ length: per }, () => randomBytes(16)),
      }))
      const outs = shards.map((s) => Buffer.alloc(s.plain.length + 5, 0xee))
      const digests = Buffer.alloc(32 * (per + 1) * n)
      sealMany!(Buffer.concat(shards.map((s) => s.key)), Buffer.concat(shards.map((s) => s.iv)), shards.map((s) => s.plain), outs, Buffer.concat(shards.flatMap((s) => s.salts)), per, digests)
      shards.forEach((s, i) => {
        const want = sealJs(s.key, s.iv, s.plain, Buffer.alloc(s.plain.length), s.salts)
        const got = Array.from({ length: per + 1 }, (_, j) => digests.toString('hex', 32 * ((per + 1) * i + j), 32 * ((per + 1) * i + j + 1)))
        const ciphertext = encryptShard(s.key, s.plain, s.iv).ciphertext
        checked++
        if (!outs[i]!.subarray(0, s.plain.length).equals(ciphertext) || outs[i]![s.plain.length] !== 0xee) wrong++
        if (JSON.stringify(got) !== JSON.stringify([want.hash, ...want.digests])) {
          wrong++
          t.fail(`${per} salts, ${n} shards, shard ${i} of ${s.plain.length} bytes: digests differ`)
        }
      })
    }
  }
  t.equal(wrong, 0, `${checked} shards: same ciphertext, hash and challenges as sealed alone, nothing written past a shard`)
})

t.test('seal many refuses arguments that do not fit together', { skip: sealMany ? false : 'the addon is not built' }, async (t) => {
  const key = generateFileKey()
  const plain = randomBytes(1000)
  const ok = (): void => sealMany!(key, randomBytes(16), [plain], [Buffer.alloc(1000)], randomBytes(32), 2, Buffer.alloc(96))
  ok()
  t.pass('a well-formed call')
  const cases: Array<[string, () => void]> = [
    ['an output shorter than its plaintext', () => sealMany!(key, randomBytes(16), [plain], [Buffer.alloc(999)], randomBytes(32), 2, Buffer.alloc(96))],
    ['fewer outputs than plaintexts', () => sealMany!(Buffer.concat([key, key]), randomBytes(32), [plain, plain], [Buffer.alloc(1000)], randomBytes(64), 2, Buffer.alloc(192))],
    ['a key per shard missing', () => sealMany!(key, randomBytes(32), [plain, plain], [Buffer.alloc(1000), Buffer.alloc(1000)], randomBytes(64), 2, Buffer.alloc(192))],
    ['salts for fewer shards', () => sealMany!(key, randomBytes(16), [plain], [Buffer.alloc(1000)], randomBytes(16), 2, Buffer.alloc(96))],
    ['no room for the digests', () => sealMany!(key, randomBytes(16), [plain], [Buffer.alloc(1000)], randomBytes(32), 2, Buffer.alloc(95))],
    ['no shards', () => sealMany!(Buffer.alloc(0), Buffer.alloc(0), [], [], Buffer.alloc(0), 2, Buffer.alloc(0))],
    ['more salts than a shard may have', () => sealMany!(key, randomBytes(16), [plain], [Buffer.alloc(1000)], randomBytes(16 * 17), 17, Buffer.alloc(32 * 18))],
  ]
  for (const [name, call] of cases) t.throws(call, /xc_seal_many: wrong arguments/, name)
  t.throws(() => sealMany!(Buffer.alloc(32 * 257), Buffer.alloc(16 * 257), Array(257).fill(plain), Array.from({ length: 257 }, () => Buffer.alloc(1000)), Buffer.alloc(0), 0, Buffer.alloc(32 * 257)), /wrong arguments/, 'more shards than one call takes')

  // What the call writes must not overlap what it reads or writes elsewhere, but for an output
  // that is exactly its own plaintext (in place).
  const big = Buffer.alloc(4000)
  const iv = randomBytes(16)
  const inPlace = Buffer.from(plain)
  sealMany!(key, iv, [inPlace], [inPlace], randomBytes(32), 2, Buffer.alloc(96))
  t.ok(inPlace.equals(encryptShard(key, plain, iv).ciphertext), 'in place is allowed, and encrypts')
  const overlapping: Array<[string, () => void]> = [
    ['an output 16 bytes into its own plaintext', () => sealMany!(key, randomBytes(16), [big.subarray(0, 1000)], [big.subarray(16, 1016)], randomBytes(32), 2, Buffer.alloc(96))],
    ["an output over another shard's plaintext", () => sealMany!(Buffer.concat([key, key]), randomBytes(32), [big.subarray(0, 1000), big.subarray(1000, 2000)], [big.subarray(1000, 2000), Buffer.alloc(1000)], randomBytes(64), 2, Buffer.alloc(192))],
    ['digests over an output', () => sealMany!(key, randomBytes(16), [plain], [big.subarray(0, 1000)], randomBytes(32), 2, big.subarray(900, 996))],
    ['an output over the salts', () => sealMany!(key, randomBytes(16), [plain], [big.subarray(0, 1000)], big.subarray(500, 532), 2, Buffer.alloc(96))],
  ]
  for (const [name, call] of overlapping) t.throws(call, /xc_seal_many: overlapping buffers/, name)
})

t.test('verify: a matching shard is decrypted in place, a wrong one left alone', async (t) => {
  const implementations: Array<[string, (key: Buffer, iv: Buffer, data: Buffer, hash: string) => boolean | null]> = [["Node's crypto", verifyDecryptJs]]
  if (binding()?.xc_hash_ctr) implementations.push(['addon', verifyDecryptInPlace])
  for (const [name, verify] of implementations) {
    for (const size of SIZES) {
      const key = generateFileKey()
      const plain = randomBytes(size)
      const { iv, ciphertext, hash } = encryptShard(key, plain)
      const data = Buffer.from(ciphertext)
      t.equal(verify(key, iv, data, hash), true, `${name}, ${size} bytes: matches`)
      t.ok(data.equals(plain), `${name}, ${size} bytes: decrypted in place`)

      const wrong = Buffer.from(ciphertext)
      wrong[wrong.length >> 1]! ^= 1
      t.equal(verify(key, iv, wrong, hash), false, `${name}, ${size} bytes: one flipped bit is a mismatch`)
    }
  }
  const key = generateFileKey()
  const { iv, ciphertext, hash } = encryptShard(key, randomBytes(1000))
  const wrong = Buffer.from(ciphertext)
  wrong[0]! ^= 1
  const before = Buffer.from(wrong)
  verifyDecryptJs(key, iv, wrong, hash)
  t.ok(wrong.equals(before), "Node's crypto decrypts nothing that failed verification")
})

// The counter is the IV as a 128-bit big-endian number plus one per AES block, carrying through
// all 128 bits. Random IVs rarely come near a carry, so these are made to: the low 32 bits, the
// low 64 bits, or all 128 about to wrap within the shard.
t.test('the addon\'s AES-256-CTR carries the counter as Node\'s does', { skip: sealMany ? false : 'the addon is not built' }, async (t) => {
  const { createCipheriv } = await import('node:crypto')
  const b = binding()!
  const near = (bytes: number, before: number): Buffer => {
    const iv = randomBytes(16)
    iv.fill(0xff, 16 - bytes)
    iv.writeUInt16BE(0xffff - before, 14)
    return iv
  }
  const ivs: Array<[string, Buffer]> = []
  for (const before of [0, 1, 7, 15, 16, 17, 100, 4095]) {
    ivs.push([`low 32 bits wrap after ${before + 1} blocks`, near(4, before)])
    ivs.push([`low 64 bits wrap after ${before + 1} blocks`, near(8, before)])
    ivs.push([`all 128 bits wrap after ${before + 1} blocks`, near(16, before)])
  }
  let checked = 0
  for (const [name, iv] of ivs) {
    for (const size of [17, 4111, 65_537, 300_001]) {
      const key = generateFileKey()
      const plain = randomBytes(size)
      const c = createCipheriv('aes-256-ctr', key, iv)
      const want = Buffer.concat([c.update(plain), c.final()])
      const sealed = Buffer.alloc(size)
      b.xc_seal!(key, iv, plain, sealed, Buffer.alloc(0), Buffer.alloc(32))
      // Three shards with two challenges each: nine messages, enough for the sixteen-lane path.
      const many = Array.from({ length: 3 }, () => Buffer.alloc(size))
      b.xc_seal_many!(Buffer.concat([key, key, key]), Buffer.concat([iv, iv, iv]), [plain, Buffer.from(plain), Buffer.from(plain)], many, randomBytes(96), 2, Buffer.alloc(288))
      const opened = Buffer.from(want)
      b.xc_hash_ctr!(key, iv, opened, opened, Buffer.alloc(32))
      const ok = sealed.equals(want) && many.every((m) => m.equals(want)) && opened.equals(plain)
      if (!ok) t.fail(`${name}, ${size} bytes`)
      checked++
    }
  }
  t.equal(checked, ivs.length * 4, `${checked} shards sealed and opened as Node's crypto does`)
})
