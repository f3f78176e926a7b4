import t from 'tap'
import { randomBytes } from 'node:crypto'
import { XError, type ErrorCode } from '../../src/shared/errors.js'
import { SHARD_SIZE } from '../../src/shared/protocol.js'
import {
  MASTER_KEY_BYTES,
  decryptMeta,
  decryptName,
  decryptShard,
  defaultKdfParams,
  deriveAccountKeys,
  derivePasswordKeys,
  encryptMeta,
  encryptName,
  encryptShard,
  generateFileKey,
  generateMasterKey,
  masterKeyToPhrase,
  nameHash,
  openManifest,
  phraseToMasterKey,
  sealManifest,
  sha256Hex,
  unwrapKey,
  wrapKey,
  type Manifest,
} from '../../src/shared/crypto/index.js'

import { FK_AAD, MK_AAD, throwsCode } from './crypto-helpers.js'

function flipBit(buf: Buffer, bit: number): Buffer {
  const out = Buffer.from(buf)
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}

const flipB64 = (text: string, bit: number) => flipBit(Buffer.from(text, 'base64url'), bit).toString('base64url')

/** Split `data` into shards and build the manifest, as an uploader would. */
function manifestFor(fileKey: Buffer, data: Buffer, shardSize: number): { m: Manifest; cts: Buffer[] } {
  const shards: Manifest['shards'] = []
  const cts: Buffer[] = []
  for (let i = 0; i * shardSize < data.length; i++) {
    const e = encryptShard(fileKey, data.subarray(i * shardSize, (i + 1) * shardSize))
    shards.push({ index: i, size: e.ciphertext.length, iv: e.iv, hash: e.hash })
    cts.push(e.ciphertext)
  }
  return { m: { v: 1, size: data.length, shardSize, shards }, cts }
}

t.test('master key and recovery phrase', async (t) => {
  for (let i = 0; i < 20; i++) {
    const mk = generateMasterKey()
    t.equal(mk.length, MASTER_KEY_BYTES)
    const phrase = masterKeyToPhrase(mk)
    t.equal(phrase.split(' ').length, 24)
    t.same(phraseToMasterKey(phrase), mk)
  }
  const mk = generateMasterKey()
  const messy = `  ${masterKeyToPhrase(mk).toUpperCase().split(' ').join(' \t\n ')}\n`
  t.same(phraseToMasterKey(messy), mk, 'case and whitespace are tolerated')
  t.notSame(generateMasterKey(), generateMasterKey())
})

t.test('password keys', async (t) => {
  const kdf = defaultKdfParams({ N: 1024 })
  t.match(kdf, { alg: 'scrypt', N: 1024, r: 8, p: 1 })
  t.equal(Buffer.from(kdf.salt, 'base64url').length, 16)
  t.equal(defaultKdfParams().N, 2 ** 17, 'default cost')
  t.not(defaultKdfParams({ N: 1024 }).salt, kdf.salt, 'fresh salt each time')

  const a = await derivePasswordKeys('hunter2', kdf)
  const b = await derivePasswordKeys('hunter2', kdf)
  t.equal(a.authKey.length, 32)
  t.equal(a.wrappingKey.length, 32)
  t.same(a, b, 'deterministic')
  t.notSame(a.authKey, a.wrappingKey, 'auth key and wrapping key differ')
  const other = await derivePasswordKeys('hunter3', kdf)
  t.notSame(other.authKey, a.authKey, 'another password, other keys')
  const salted = await derivePasswordKeys('hunter2', { ...kdf, salt: defaultKdfParams({ N: 1024 }).salt })
  t.notSame(salted.authKey, a.authKey, 'another salt, other keys')
  const nfkc = await derivePasswordKeys('\ufb01x', kdf)
  t.same(nfkc, await derivePasswordKeys('fix', kdf), 'password is NFKC-normalised')
})

t.test('scrypt does not block the event loop', async (t) => {
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  await derivePasswordKeys('pw', defaultKdfParams({ N: 2 ** 15 }))
  clearInterval(timer)
  t.ok(ticks > 0, `timers ran during scrypt (${ticks} ticks)`)
})

t.test('key wrapping', async (t) => {
  const kek = generateMasterKey()
  const mk = generateMasterKey()
  const wrapped = wrapKey(kek, mk, MK_AAD)
  t.match(wrapped, /^[A-Za-z0-9_-]+$/)
  t.equal(Buffer.from(wrapped, 'base64url').length, 1 + 12 + 32 + 16)
  t.equal(Buffer.from(wrapped, 'base64url')[0], 1, 'version byte')
  t.same(unwrapKey(kek, wrapped, MK_AAD), mk)
  t.not(wrapKey(kek, mk, MK_AAD), wrapped, 'fresh nonce every wrap')

  throwsCode(t, () => unwrapKey(generateMasterKey(), wrapped, MK_AAD), 'XC_DECRYPT', 'wrong key')
  throwsCode(t, () => unwrapKey(kek, wrapped, FK_AAD), 'XC_DECRYPT', 'wrong aad')
  const bits = Buffer.from(wrapped, 'base64url').length * 8
  let allFail = true
  for (let bit = 0; bit < bits; bit++) {
    try {
      unwrapKey(kek, flipB64(wrapped, bit), MK_AAD)
      allFail = false
    } catch (err) {
      if (!(err instanceof XError && err.code === 'XC_DECRYPT')) allFail = false
    }
  }
  t.ok(allFail, `every one of ${bits} single-bit flips is XC_DECRYPT`)
})

t.test('account keys are distinct and deterministic', async (t) => {
  const mk = generateMasterKey()
  const k = deriveAccountKeys(mk)
  t.same(deriveAccountKeys(mk), k)
  const all = [k.nameKey, k.nameHashKey, k.metaKey, mk].map((b) => b.toString('hex'))
  t.equal(new Set(all).size, 4, 'no derived key equals another or MK')
  t.notSame(deriveAccountKeys(generateMasterKey()).nameKey, k.nameKey)
})

t.test('shards', async (t) => {
  const key = generateFileKey()
  t.equal(key.length, 32)
  for (const n of [0, 1, 15, 16, 17, 1000, 65536 + 3, SHARD_SIZE]) {
    const pt = randomBytes(n)
    const e = encryptShard(key, pt)
    t.equal(e.iv.length, 16)
    t.equal(e.ciphertext.length, n, `ciphertext size = plaintext size (${n})`)
    t.equal(e.hash, sha256Hex(e.ciphertext))
    t.same(decryptShard(key, e.iv, e.ciphertext), pt, `round trip ${n}`)
  }
  const pt = Buffer.alloc(4096, 7)
  const a = encryptShard(key, pt)
  const b = encryptShard(key, pt)
  t.notSame(a.iv, b.iv, 'two encryptions of one shard get different IVs')
  t.notSame(a.ciphertext, b.ciphertext, 'and different ciphertexts')
  t.not(a.hash, b.hash, 'and different hashes')
  t.notSame(decryptShard(generateFileKey(), a.iv, a.ciphertext), pt, 'wrong key gives other bytes (CTR has no tag)')
  throwsCode(t, () => encryptShard(key, Buffer.alloc(SHARD_SIZE + 1)), 'XC_INTERNAL', 'oversized shard')
  throwsCode(t, () => encryptShard(Buffer.alloc(16), pt), 'XC_INTERNAL', 'short file key')
  throwsCode(t, () => decryptShard(key, Buffer.alloc(12), a.ciphertext), 'XC_DECRYPT', '12-byte IV')
})

t.test('shard throughput (informational)', async (t) => {
  const key = generateFileKey()
  const pt = Buffer.alloc(SHARD_SIZE, 0x5a)
  encryptShard(key, pt)
  const rounds = 32
  const start = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) encryptShard(key, pt)
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  t.comment(`encryptShard (AES-256-CTR + SHA-256) on 2 MiB: ${((rounds * SHARD_SIZE) / 2 ** 20 / secs).toFixed(0)} MiB/s`)
  t.pass('measured')
})

t.test('manifest', async (t) => {
  const key = generateFileKey()
  for (const [len, shardSize] of [[0, SHARD_SIZE], [1, SHARD_SIZE], [10, 4], [12, 4], [SHARD_SIZE + 5, SHARD_SIZE], [100, 1]] as const) {
    const data = Buffer.alloc(len, 3)
    const { m, cts } = manifestFor(key, data, shardSize)
    const sealed = sealManifest(key, m)
    t.equal(sealed[0], 1, 'format byte')
    const opened = openManifest(key, sealed)
    t.same(opened, m, `round trip size=${len} shardSize=${shardSize}`)
    t.same(sealManifest(key, opened), sealed, 'sealing is deterministic')
    const back = Buffer.concat(opened.shards.map((s, i) => decryptShard(key, s.iv, cts[i]!)))
    t.same(back, data, 'file reassembles')
  }
  const { m } = manifestFor(key, Buffer.alloc(10, 1), 4)
  const sealed = sealManifest(key, m)
  throwsCode(t, () => openManifest(generateFileKey(), sealed), 'XC_MANIFEST_INVALID', 'wrong file key')
  let allFail = true
  for (let bit = 0; bit < sealed.length * 8; bit++) {
    try {
      openManifest(key, flipBit(sealed, bit))
      allFail = false
    } catch (err) {
      if (!(err instanceof XError && err.code === 'XC_MANIFEST_INVALID')) allFail = false
    }
  }
  t.ok(allFail, `every one of ${sealed.length * 8} single-bit flips is XC_MANIFEST_INVALID`)
  throwsCode(t, () => openManifest(key, sealed.subarray(0, sealed.length - 1)), 'XC_MANIFEST_INVALID', 'truncated')
  throwsCode(t, () => openManifest(key, Buffer.concat([sealed, Buffer.from([0])])), 'XC_MANIFEST_INVALID', 'extended')
  throwsCode(t, () => sealManifest(key, { ...m, size: 11 }), 'XC_INTERNAL', 'refuses to seal an inconsistent manifest')
})

t.test('names', async (t) => {
  const keys = deriveAccountKeys(generateMasterKey())
  for (const name of ['a', 'hello.txt', 'Café ☕ 名前.md', '', ' spaces ', 'x'.repeat(255), '🙂'.repeat(256), 'e\u0301']) {
    const enc = encryptName(keys, name)
    t.match(enc, /^[A-Za-z0-9_-]+$/)
    t.equal(decryptName(keys, enc), name, `round trip ${JSON.stringify(name.slice(0, 20))}`)
  }
  const short = Buffer.from(encryptName(keys, 'a'), 'base64url').length
  t.equal(Buffer.from(encryptName(keys, 'a'.repeat(31)), 'base64url').length, short, 'lengths are padded to 32-byte classes')
  t.equal(Buffer.from(encryptName(keys, 'a'.repeat(32)), 'base64url').length, short + 32)
  t.not(encryptName(keys, 'same'), encryptName(keys, 'same'), 'fresh nonce every time')
  throwsCode(t, () => encryptName(keys, 'x'.repeat(1025)), 'XC_USAGE', 'name too long')
  throwsCode(t, () => encryptName(keys, 'bad\ud800'), 'XC_USAGE', 'lone surrogate')

  const enc = encryptName(keys, 'secret.pdf')
  throwsCode(t, () => decryptName(deriveAccountKeys(generateMasterKey()), enc), 'XC_DECRYPT', 'wrong key')
  let allFail = true
  const bits = Buffer.from(enc, 'base64url').length * 8
  for (let bit = 0; bit < bits; bit++) {
    try {
      decryptName(keys, flipB64(enc, bit))
      allFail = false
    } catch (err) {
      if (!(err instanceof XError && err.code === 'XC_DECRYPT')) allFail = false
    }
  }
  t.ok(allFail, `every one of ${bits} single-bit flips is XC_DECRYPT`)

  const h = nameHash(keys, 'p1', 'Café')
  t.match(h, /^[0-9a-f]{64}$/)
  t.equal(nameHash(keys, 'p1', 'Cafe\u0301'), h, 'NFC: composed and decomposed are one name')
  t.not(nameHash(keys, 'p2', 'Café'), h, 'per folder')
  t.not(nameHash(keys, 'p1', 'café'), h, 'case-sensitive')
  t.not(nameHash(deriveAccountKeys(generateMasterKey()), 'p1', 'Café'), h, 'per account')
  t.not(nameHash(keys, 'p1a', 'b'), nameHash(keys, 'p1', 'ab'), 'the separator keeps parent and name apart')
  throwsCode(t, () => nameHash(keys, 'p\0', 'x'), 'XC_USAGE', 'NUL in parentId')
})

t.test('meta', async (t) => {
  const keys = deriveAccountKeys(generateMasterKey())
  const meta = { mode: 0o100644, mtime: 1700000000123, target: '../ç', nested: { a: [1, 2] } }
  const enc = encryptMeta(keys, meta)
  t.same(decryptMeta(keys, enc), meta)
  t.not(encryptMeta(keys, meta), enc, 'fresh nonce every time')
  t.same(decryptMeta(keys, encryptMeta(keys, {})), {})
  throwsCode(t, () => decryptMeta(deriveAccountKeys(generateMasterKey()), enc), 'XC_DECRYPT', 'wrong key')
  throwsCode(t, () => decryptMeta(keys, flipB64(enc, 100)), 'XC_DECRYPT', 'bit flip')
  throwsCode(t, () => decryptMeta(keys, encryptName(keys, 'x')), 'XC_DECRYPT', 'a name is not meta')
  throwsCode(t, () => decryptName(keys, enc), 'XC_DECRYPT', 'meta is not a name')
  const circular: Record<string, unknown> = {}
  circular.self = circular
  throwsCode(t, () => encryptMeta(keys, circular), 'XC_USAGE', 'circular attributes')
  throwsCode(t, () => encryptMeta(keys, { big: 'x'.repeat(70000) }), 'XC_USAGE', 'attributes too large')
})
