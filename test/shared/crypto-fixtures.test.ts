/**
 * Format v1 frozen: today's code must reproduce, or open, every sample in test/fixtures/v1/.
 * A failure here means existing user data would no longer read; change the format only with a new
 * version, never by editing these files.
 */
import t from 'tap'
import { createCipheriv } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { KdfParams } from '../../src/shared/protocol.js'
import {
  decryptMeta,
  decryptName,
  decryptShard,
  deriveAccountKeys,
  derivePasswordKeys,
  encryptShard,
  masterKeyToPhrase,
  nameHash,
  openManifest,
  phraseToMasterKey,
  sealManifest,
  sha256Hex,
  unwrapKey,
  type Manifest,
} from '../../src/shared/crypto/index.js'
import { wrapKeyWithNonce } from '../../src/shared/crypto/keys.js'
import { encryptNameWithNonce } from '../../src/shared/crypto/names.js'
import { encryptMetaWithNonce } from '../../src/shared/crypto/meta.js'

/** Read test/fixtures/v1/<name>, found by walking up from this file (works from test/ and dist/test/). */
function fixture<T>(name: string): T {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = join(dir, 'test', 'fixtures', 'v1', name)
    if (existsSync(candidate)) return JSON.parse(readFileSync(candidate, 'utf8')) as T
    const up = dirname(dir)
    if (up === dir) throw new Error(`fixture not found: ${name}`)
    dir = up
  }
}

const hex = (s: string) => Buffer.from(s, 'hex')

t.test('recovery phrase', async (t) => {
  const f = fixture<{ generated: Array<{ masterKey: string; phrase: string }>; reference: Array<{ masterKey: string; phrase: string }> }>('phrase.json')
  for (const c of [...f.generated, ...f.reference]) {
    t.equal(masterKeyToPhrase(hex(c.masterKey)), c.phrase, `phrase of ${c.masterKey.slice(0, 8)}…`)
    t.equal(phraseToMasterKey(c.phrase).toString('hex'), c.masterKey, `master key of "${c.phrase.slice(0, 20)}…"`)
  }
})

t.test('password keys', async (t) => {
  const f = fixture<{ cases: Array<{ password: string; equivalent: string; kdf: KdfParams; authKey: string; wrappingKey: string }> }>('password-keys.json')
  for (const c of f.cases) {
    for (const pw of [c.password, c.equivalent]) {
      const k = await derivePasswordKeys(pw, c.kdf)
      t.equal(k.authKey.toString('hex'), c.authKey, `auth key, N=${c.kdf.N} r=${c.kdf.r} p=${c.kdf.p}`)
      t.equal(k.wrappingKey.toString('hex'), c.wrappingKey, 'wrapping key')
    }
  }
})

t.test('key wrap', async (t) => {
  const f = fixture<{ kek: string; cases: Array<{ key: string; aad: string; nonce: string; wrapped: string }> }>('key-wrap.json')
  const kek = hex(f.kek)
  for (const c of f.cases) {
    t.equal(wrapKeyWithNonce(kek, hex(c.key), c.aad, hex(c.nonce)), c.wrapped, `wrap (${c.aad})`)
    t.equal(unwrapKey(kek, c.wrapped, c.aad).toString('hex'), c.key, `unwrap (${c.aad})`)
  }
})

/** AES-256-CTR from single AES blocks with a 128-bit big-endian counter: an independent reference. */
function referenceCtr(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const out = Buffer.alloc(data.length)
  let counter = BigInt(`0x${iv.toString('hex')}`)
  for (let off = 0; off < data.length; off += 16) {
    const block = Buffer.from(counter.toString(16).padStart(32, '0'), 'hex')
    const ecb = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false)
    const stream = ecb.update(block)
    for (let i = 0; i < 16 && off + i < data.length; i++) out[off + i] = data[off + i]! ^ stream[i]!
    counter = (counter + 1n) & ((1n << 128n) - 1n)
  }
  return out
}

t.test('shards', async (t) => {
  const f = fixture<{ fileKey: string; cases: Array<{ iv: string; plaintext: string; ciphertext: string; hash: string }> }>('shards.json')
  const key = hex(f.fileKey)
  for (const c of f.cases) {
    const e = encryptShard(key, hex(c.plaintext), hex(c.iv))
    t.equal(e.ciphertext.toString('hex'), c.ciphertext, `ciphertext, iv ${c.iv}`)
    t.equal(e.hash, c.hash, 'hash')
    t.equal(sha256Hex(hex(c.ciphertext)), c.hash, 'hash is SHA-256 of the ciphertext')
    t.equal(decryptShard(key, hex(c.iv), hex(c.ciphertext)).toString('hex'), c.plaintext, 'decrypt')
    t.equal(referenceCtr(key, hex(c.iv), hex(c.plaintext)).toString('hex'), c.ciphertext, 'matches a 128-bit-counter reference CTR')
  }
})

type ManifestJson = Omit<Manifest, 'shards'> & { shards: Array<Omit<Manifest['shards'][number], 'iv'> & { iv: string }> }

t.test('manifests', async (t) => {
  const f = fixture<{ fileKey: string; cases: Array<{ manifest: ManifestJson; sealed: string }> }>('manifests.json')
  const key = hex(f.fileKey)
  for (const c of f.cases) {
    const m: Manifest = { ...c.manifest, shards: c.manifest.shards.map((s) => ({ ...s, iv: hex(s.iv) })) }
    t.equal(sealManifest(key, m).toString('hex'), c.sealed, `sealed bytes, size ${m.size}`)
    t.same(openManifest(key, hex(c.sealed)), m, 'opens to the same value')
  }
})

t.test('account keys, names and name hashes', async (t) => {
  const f = fixture<{
    masterKey: string
    accountKeys: { nameKey: string; nameHashKey: string; metaKey: string }
    encrypted: Array<{ name: string; nonce: string; enc: string }>
    nameHashes: Array<{ parentId: string; name: string; hash: string }>
  }>('names.json')
  const keys = deriveAccountKeys(hex(f.masterKey))
  t.same(
    { nameKey: keys.nameKey.toString('hex'), nameHashKey: keys.nameHashKey.toString('hex'), metaKey: keys.metaKey.toString('hex') },
    f.accountKeys,
    'account keys',
  )
  for (const c of f.encrypted) {
    t.equal(decryptName(keys, c.enc), c.name, `decrypt ${JSON.stringify(c.name)}`)
    t.equal(encryptNameWithNonce(keys, c.name, hex(c.nonce)), c.enc, `encrypt ${JSON.stringify(c.name)}`)
  }
  for (const c of f.nameHashes) t.equal(nameHash(keys, c.parentId, c.name), c.hash, `nameHash ${c.parentId}/${c.name}`)
})

t.test('meta', async (t) => {
  const f = fixture<{ masterKey: string; cases: Array<{ meta: Record<string, unknown>; nonce: string; enc: string }> }>('meta.json')
  const keys = deriveAccountKeys(hex(f.masterKey))
  for (const c of f.cases) {
    t.same(decryptMeta(keys, c.enc), c.meta, `decrypt ${JSON.stringify(c.meta)}`)
    t.equal(encryptMetaWithNonce(keys, c.meta, hex(c.nonce)), c.enc, 'encrypt')
  }
})
