/**
 * The crypto worker's two implementations of shard crypto, Node's (used when the addon's one-pass
 * functions are missing) and the addon's, against the inline functions of shared/crypto: same
 * ciphertext, hash and challenges, and a verified shard decrypted in place. Sizes cover whole and
 * partial 64 KiB pieces and AES blocks.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { sealJs, verifyDecryptJs } from '../../src/client/transfer/shard-crypto-js.js'
import { verifyDecryptInPlace } from '../../src/client/transfer/native-crypto.js'
import { binding } from '../../src/client/fuse/native-addon.js'
import { encryptShard, generateFileKey } from '../../src/shared/crypto/index.js'
import { challengeDigest } from '../../src/shared/orders.js'

const SIZES = [1, 15, 16, 17, 65_535, 65_536, 65_537, 300_001, 2 * 1024 * 1024 - 1, 2 * 1024 * 1024]
const sealNative = binding()?.xc_seal

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
