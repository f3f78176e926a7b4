/**
 * Hostile and malformed input: every entry point that reads data from the bridge, a host or a user
 * must answer with an XError of the stated code, never crash with a TypeError.
 */
import t from 'tap'
import { createHmac, randomBytes } from 'node:crypto'
import { Packr } from 'msgpackr'
import { XError, type ErrorCode } from '../../src/shared/errors.js'
import { SHARD_SIZE } from '../../src/shared/protocol.js'
import {
  decryptMeta,
  decryptName,
  deriveAccountKeys,
  derivePasswordKeys,
  generateFileKey,
  generateMasterKey,
  masterKeyToPhrase,
  openManifest,
  phraseToMasterKey,
  sealManifest,
  unwrapKey,
  validateKdfParams,
  wrapKey,
} from '../../src/shared/crypto/index.js'
import { sealAead } from '../../src/shared/crypto/aead.js'
import { HKDF_INFO, hkdf32 } from '../../src/shared/crypto/derive.js'
import { META_LABEL } from '../../src/shared/crypto/meta.js'
import { NAME_LABEL } from '../../src/shared/crypto/names.js'

import { FK_AAD, MK_AAD, throwsCode } from './crypto-helpers.js'

const junk: unknown[] = [undefined, null, 0, 1.5, NaN, true, {}, [], 'x', Symbol('s'), () => 1, Buffer.alloc(3)]

t.test('validateKdfParams', async (t) => {
  const good = { alg: 'scrypt', N: 1024, r: 8, p: 1, salt: randomBytes(16).toString('base64url') }
  t.same(validateKdfParams(good), good)
  t.same(validateKdfParams({ ...good, extra: 1 }), good, 'unknown fields are dropped')
  t.same(validateKdfParams({ ...good, N: 2 ** 20, r: 8, p: 16 }), { ...good, N: 2 ** 20, r: 8, p: 16 }, 'upper bounds accepted (1 GiB of scrypt memory)')
  const bad: Array<[string, unknown]> = [
    ...junk.map((j): [string, unknown] => [`not an object: ${String(j)}`, j]),
    ['alg argon2id', { ...good, alg: 'argon2id' }],
    ['alg missing', { ...good, alg: undefined }],
    ['N 2^9', { ...good, N: 512 }],
    ['128·N·r over 1 GiB', { ...good, N: 2 ** 20, r: 32 }],
    ['N 2^21', { ...good, N: 2 ** 21 }],
    ['N not a power of two', { ...good, N: 1536 }],
    ['N fractional', { ...good, N: 1024.5 }],
    ['N as string', { ...good, N: '1024' }],
    ['N NaN', { ...good, N: NaN }],
    ['N Infinity', { ...good, N: Infinity }],
    ['N 2^32', { ...good, N: 2 ** 32 }],
    ['N bigint', { ...good, N: 1024n }],
    ['r 0', { ...good, r: 0 }],
    ['r 33', { ...good, r: 33 }],
    ['r -1', { ...good, r: -1 }],
    ['p 0', { ...good, p: 0 }],
    ['p 17', { ...good, p: 17 }],
    ['p 1.5', { ...good, p: 1.5 }],
    ['salt missing', { ...good, salt: undefined }],
    ['salt number', { ...good, salt: 5 }],
    ['salt 15 bytes', { ...good, salt: randomBytes(15).toString('base64url') }],
    ['salt 17 bytes', { ...good, salt: randomBytes(17).toString('base64url') }],
    ['salt padded', { ...good, salt: `${good.salt}==` }],
    ['salt standard base64', { ...good, salt: '+/+/+/+/+/+/+/+/+/+/+w' }],
    ['salt non-canonical', { ...good, salt: `${good.salt.slice(0, 21)}${good.salt.endsWith('B') ? 'C' : 'B'}` }],
    ['salt huge', { ...good, salt: 'A'.repeat(1e6) }],
  ]
  for (const [what, kdf] of bad) throwsCode(t, () => validateKdfParams(kdf), 'XC_BAD_REQUEST', what)
  try {
    await derivePasswordKeys('pw', { ...good, N: 2 ** 24 } as never)
    t.fail('derivePasswordKeys accepted N=2^24')
  } catch (err) {
    t.equal((err as XError).code, 'XC_BAD_REQUEST', 'derivePasswordKeys validates first')
  }
  try {
    await derivePasswordKeys(42 as unknown as string, good as never)
    t.fail('derivePasswordKeys accepted a number')
  } catch (err) {
    t.equal((err as XError).code, 'XC_USAGE', 'password must be a string')
  }
})

t.test('phraseToMasterKey', async (t) => {
  const phrase = masterKeyToPhrase(generateMasterKey())
  const words = phrase.split(' ')
  // A valid 12-word phrase (128-bit, the BIP39 reference vector) is still not a master key.
  const twelve = 'legal winner thank year wave sausage worth useful legal winner thank yellow'
  const bad: Array<[string, unknown]> = [
    ...junk.filter((j) => typeof j !== 'string').map((j): [string, unknown] => [`not a string: ${String(j)}`, j]),
    ['empty', ''],
    ['whitespace', ' \n\t '],
    ['23 words', words.slice(0, 23).join(' ')],
    ['25 words', `${phrase} abandon`],
    ['12-word phrase', twelve],
    ['unknown word', ['notaword', ...words.slice(1)].join(' ')],
    // Fixed phrases whose checksum is known to be wrong (a random edit passes 1 time in 256).
    ['checksum: abandon x24', 'abandon '.repeat(24)],
    ['checksum: zoo x24', 'zoo '.repeat(24)],
    ['checksum: two words swapped', 'winner legal thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth title'],
    ['punctuation', phrase.replaceAll(' ', ', ')],
    ['huge', 'abandon '.repeat(100000)],
    ['hex', '00'.repeat(32)],
  ]
  for (const [what, p] of bad) throwsCode(t, () => phraseToMasterKey(p as string), 'XC_USAGE', what)
})

t.test('unwrapKey', async (t) => {
  const kek = generateMasterKey()
  const wrapped = wrapKey(kek, generateFileKey(), FK_AAD)
  const raw = Buffer.from(wrapped, 'base64url')
  const bad: Array<[string, unknown]> = [
    ...junk.map((j): [string, unknown] => [`not a string: ${String(j)}`, j]),
    ['empty', ''],
    ['one byte', 'AQ'],
    ['header only', raw.subarray(0, 13).toString('base64url')],
    ['no tag', raw.subarray(0, raw.length - 16).toString('base64url')],
    ['truncated by one', raw.subarray(0, raw.length - 1).toString('base64url')],
    ['extended by one', Buffer.concat([raw, Buffer.alloc(1)]).toString('base64url')],
    ['version 0', Buffer.concat([Buffer.from([0]), raw.subarray(1)]).toString('base64url')],
    ['version 2', Buffer.concat([Buffer.from([2]), raw.subarray(1)]).toString('base64url')],
    ['padded', `${wrapped}=`],
    ['standard base64', raw.toString('base64')],
    ['embedded space', `${wrapped.slice(0, 10)} ${wrapped.slice(10)}`],
    ['huge', 'A'.repeat(1e6)],
    ['random of the right length', randomBytes(raw.length).toString('base64url')],
  ]
  for (const [what, w] of bad) throwsCode(t, () => unwrapKey(kek, w as string, FK_AAD), 'XC_DECRYPT', what)
  throwsCode(t, () => unwrapKey(Buffer.alloc(16), wrapped, FK_AAD), 'XC_INTERNAL', 'a 16-byte kek is a bug, not bad data')
  throwsCode(t, () => wrapKey(kek, Buffer.alloc(8), 'x'), 'XC_INTERNAL', 'refuses to wrap an 8-byte key')
})

t.test('decryptName and decryptMeta', async (t) => {
  const keys = deriveAccountKeys(generateMasterKey())
  const enc = Buffer.from(sealAead(keys.nameKey, Buffer.alloc(32), NAME_LABEL))
  const validBad: Array<[string, Buffer]> = [
    ['no padding marker', sealAead(keys.nameKey, Buffer.alloc(32), NAME_LABEL)],
    ['unpadded', sealAead(keys.nameKey, Buffer.from('abc'), NAME_LABEL)],
    ['empty plaintext', sealAead(keys.nameKey, Buffer.alloc(0), NAME_LABEL)],
    ['two blocks of padding', sealAead(keys.nameKey, Buffer.concat([Buffer.from([0x61, 0x80]), Buffer.alloc(62)]), NAME_LABEL)],
    ['invalid UTF-8', sealAead(keys.nameKey, Buffer.concat([Buffer.from([0xff, 0xfe, 0x80]), Buffer.alloc(29)]), NAME_LABEL)],
    ['meta label', sealAead(keys.nameKey, Buffer.concat([Buffer.from([0x61, 0x80]), Buffer.alloc(30)]), META_LABEL)],
  ]
  for (const [what, sealed] of validBad) throwsCode(t, () => decryptName(keys, sealed.toString('base64url')), 'XC_DECRYPT', `name: ${what}`)
  const bad: unknown[] = [...junk, '', 'AQ', '!!!!', `${enc.toString('base64url')}=`, 'A'.repeat(1e6), randomBytes(61).toString('base64url')]
  for (const e of bad) {
    throwsCode(t, () => decryptName(keys, e as string), 'XC_DECRYPT', `name: ${typeof e} ${String(e).slice(0, 12)}`)
    throwsCode(t, () => decryptMeta(keys, e as string), 'XC_DECRYPT', `meta: ${typeof e} ${String(e).slice(0, 12)}`)
  }
  for (const json of ['null', '[1,2]', '"str"', '42', 'true', '{bad json', '', '\u00ff']) {
    const sealed = sealAead(keys.metaKey, Buffer.from(json, 'utf8'), META_LABEL).toString('base64url')
    throwsCode(t, () => decryptMeta(keys, sealed), 'XC_DECRYPT', `meta JSON ${JSON.stringify(json)}`)
  }
})

t.test('openManifest: authenticated but malformed structures', async (t) => {
  const key = generateFileKey()
  const packr = new Packr({ useRecords: false, variableMapSize: true })
  const macKey = hkdf32(key, HKDF_INFO.manifestMac)
  /** Seal any bytes with a valid MAC, as a buggy or malicious key holder could. */
  const sealRaw = (body: Buffer) => Buffer.concat([body, createHmac('sha256', macKey).update(body).digest()])
  const sealValue = (value: unknown, format = 1) => sealRaw(Buffer.concat([Buffer.from([format]), packr.pack(value)]))
  const iv = randomBytes(16)
  const hash = 'ab'.repeat(32)
  const shard = (index: number, size: number) => ({ index, size, iv, hash })
  const good = { v: 1, size: 10, shardSize: 4, shards: [shard(0, 4), shard(1, 4), shard(2, 2)] }
  t.same(openManifest(key, sealValue(good)), good, 'the template itself is valid')
  t.same(openManifest(key, sealValue({ ...good, size: 10n, shardSize: 4n })), good, 'uint64-encoded integers are accepted')

  const withShard = (i: number, patch: Record<string, unknown>) => ({ ...good, shards: good.shards.map((s, j) => (j === i ? { ...s, ...patch } : s)) })
  const withoutKey = (o: Record<string, unknown>, k: string) => Object.fromEntries(Object.entries(o).filter(([key]) => key !== k))
  const cases: Array<[string, Buffer]> = [
    ...([null, 1, 'manifest', [], [good], true, Buffer.alloc(4), new Date(0)] as unknown[]).map((v): [string, Buffer] => [`top level ${String(v).slice(0, 10)}`, sealValue(v)]),
    ['format byte 0', sealValue(good, 0)],
    ['format byte 2', sealValue(good, 2)],
    ['empty body', sealRaw(Buffer.from([1]))],
    ['no body at all', sealRaw(Buffer.alloc(0))],
    ['trailing bytes', sealRaw(Buffer.concat([Buffer.from([1]), packr.pack(good), Buffer.from([0])]))],
    ['truncated msgpack', sealRaw(Buffer.concat([Buffer.from([1]), packr.pack(good).subarray(0, 20)]))],
    ['reserved byte 0xc1', sealRaw(Buffer.from([1, 0xc1]))],
    ['extra key', sealValue({ ...good, extra: 1 })],
    ['missing shards', sealValue(withoutKey(good, 'shards'))],
    ['__proto__ key', sealRaw(Buffer.concat([Buffer.from([1]), Buffer.from('85', 'hex'), packr.pack('__proto__').subarray(0), packr.pack({}), packr.pack(good).subarray(1)]))],
    ['v 2', sealValue({ ...good, v: 2 })],
    ['v "1"', sealValue({ ...good, v: '1' })],
    ['size negative', sealValue({ ...good, size: -1 })],
    ['size fractional', sealValue({ ...good, size: 9.5 })],
    ['size string', sealValue({ ...good, size: '10' })],
    ['size 2^64-1', sealValue({ ...good, size: 2n ** 64n - 1n })],
    ['size 2^53', sealValue({ ...good, size: 2 ** 53 })],
    ['size larger than shards', sealValue({ ...good, size: 11 })],
    ['size smaller than shards', sealValue({ ...good, size: 9 })],
    ['shardSize 0', sealValue({ ...good, shardSize: 0 })],
    ['shardSize over 2 MiB', sealValue({ v: 1, size: 1, shardSize: SHARD_SIZE + 1, shards: [shard(0, 1)] })],
    ['shards not an array', sealValue({ ...good, shards: { 0: shard(0, 4) } })],
    ['too many shards', sealValue({ ...good, shards: [...good.shards, shard(3, 0)] })],
    ['too few shards', sealValue({ ...good, shards: good.shards.slice(0, 2) })],
    ['empty file with a shard', sealValue({ v: 1, size: 0, shardSize: 4, shards: [shard(0, 0)] })],
    ['indices out of order', sealValue({ ...good, shards: [good.shards[1], good.shards[0], good.shards[2]] })],
    ['index starts at 1', sealValue({ ...good, shards: good.shards.map((s) => ({ ...s, index: s.index + 1 })) })],
    ['index as string', sealValue(withShard(0, { index: '0' }))],
    ['middle shard short', sealValue(withShard(1, { size: 3 }))],
    ['last shard too big', sealValue(withShard(2, { size: 3 }))],
    ['last shard empty', sealValue({ v: 1, size: 8, shardSize: 4, shards: [shard(0, 4), shard(1, 4), shard(2, 0)] })],
    ['shard null', sealValue({ ...good, shards: [null, good.shards[1], good.shards[2]] })],
    ['shard array', sealValue({ ...good, shards: [[0, 4, iv, hash], good.shards[1], good.shards[2]] })],
    ['shard extra key', sealValue(withShard(0, { extra: true }))],
    ['shard missing iv', sealValue({ ...good, shards: [withoutKey(good.shards[0]!, 'iv'), good.shards[1], good.shards[2]] })],
    ['iv 15 bytes', sealValue(withShard(0, { iv: randomBytes(15) }))],
    ['iv 17 bytes', sealValue(withShard(0, { iv: randomBytes(17) }))],
    ['iv hex string', sealValue(withShard(0, { iv: iv.toString('hex') }))],
    ['iv number array', sealValue(withShard(0, { iv: [...iv] }))],
    ['iv date (msgpack timestamp ext)', sealValue(withShard(0, { iv: new Date(0) }))],
    ['hash uppercase', sealValue(withShard(0, { hash: 'AB'.repeat(32) }))],
    ['hash 63 chars', sealValue(withShard(0, { hash: hash.slice(1) }))],
    ['hash 65 chars', sealValue(withShard(0, { hash: `${hash}a` }))],
    ['hash binary', sealValue(withShard(0, { hash: Buffer.alloc(32) }))],
    ['hash not hex', sealValue(withShard(0, { hash: 'zz'.repeat(32) }))],
  ]
  for (const [what, sealed] of cases) throwsCode(t, () => openManifest(key, sealed), 'XC_MANIFEST_INVALID', what)

  const unauthenticated: Array<[string, unknown]> = [
    ...junk.map((j): [string, unknown] => [`not a Buffer: ${String(j)}`, j]),
    ['empty', Buffer.alloc(0)],
    ['33 bytes', Buffer.alloc(33)],
    ['random 1 KiB', randomBytes(1024)],
    ['a valid manifest sealed by another key', sealManifest(generateFileKey(), good as never)],
  ]
  for (const [what, sealed] of unauthenticated) throwsCode(t, () => openManifest(key, sealed as Buffer), 'XC_MANIFEST_INVALID', what)
})
