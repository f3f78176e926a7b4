/** The real `xbridge` program: serve (first stdout line, url file, TLS rule, signals) and admin. */
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import forge from 'node-forge'
import t, { type Test } from 'tap'
import { derivePasswordKeys, phraseToMasterKey, unwrapKey } from '../../src/shared/crypto/index.js'
import type { PlaceResponse } from '../../src/shared/protocol.js'
import { run } from '../helpers/network.js'
import { announcedHosts, apiFor, b64, hex, newUser, receiptsFor, shardRefs } from './helpers.js'

const XBRIDGE = fileURLToPath(new URL('../../src/cli/xbridge.js', import.meta.url))

interface Served {
  proc: ChildProcess
  firstLine: string
  exited: Promise<number | null>
}

/** Start `xbridge serve` and wait for its first stdout line; the test's teardown stops it. */
function serve(t: Test, args: string[]): Promise<Served> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [XBRIDGE, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
    t.teardown(async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM')
        await exited
      }
    })
    let stderr = ''
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    createInterface({ input: proc.stdout! }).once('line', (firstLine) => resolve({ proc, firstLine, exited }))
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)))
  })
}

const admin = (dir: string, args: string[], input?: string) =>
  run(XBRIDGE, ['admin', '--data', dir, ...args], { env: { XBRIDGE_PASSWORD: '' }, ...(input !== undefined ? { input } : {}) })

t.test('serve prints `listening URL` first, writes DIR/url and keys, exits 0 on SIGTERM', async (t) => {
  const dir = join(t.testdir(), 'new-bridge')
  const s = await serve(t, ['--data', dir, '--listen', '127.0.0.1:0', '--mirrors', '2', '--log-level', 'error'])
  const m = /^listening (http:\/\/127\.0\.0\.1:(\d+))$/.exec(s.firstLine)
  t.ok(m, s.firstLine)
  const url = m![1]!
  t.not(m![2], '0', 'the real port')
  t.equal(readFileSync(join(dir, 'url'), 'utf8').trim(), url)
  t.equal(statSync(join(dir, 'keys.json')).mode & 0o777, 0o600, 'keys.json is private')
  const keys = JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8'))
  t.match(keys, { publicKey: /^[A-Za-z0-9_-]{43}$/, privateKey: /^[A-Za-z0-9_-]{43}$/, secret: /^[A-Za-z0-9_-]{43}$/ })
  const info = await (await fetch(`${url}/v1/info`)).json()
  t.same(info, { version: 1, publicKey: keys.publicKey, mirrors: 2 })
  s.proc.kill('SIGTERM')
  t.equal(await s.exited, 0)

  // The same folder again: the same keys.
  const again = await serve(t, ['--data', dir])
  const url2 = again.firstLine.replace(/^listening /, '')
  t.equal(((await (await fetch(`${url2}/v1/info`)).json()) as { publicKey: string }).publicKey, keys.publicKey)
  again.proc.kill('SIGINT')
  t.equal(await again.exited, 0)
})

t.test('plain HTTP only on loopback; usage errors exit 2', async (t) => {
  const dir = t.testdir()
  const refused = await run(XBRIDGE, ['serve', '--data', dir, '--listen', '0.0.0.0:0'])
  t.equal(refused.code, 2)
  t.match(refused.stderr, /not a loopback address.*--tls-cert/)
  t.equal(refused.stdout, '')
  for (const args of [
    ['--listen', '0.0.0.0:0', '--tls-cert', 'x.pem'],
    ['--listen', 'nonsense'],
    ['--mirrors', '0'],
    ['--mirrors', '9'],
    ['--offline-after', 'soon'],
    ['--log-level', 'loud'],
  ]) {
    const r = await run(XBRIDGE, ['serve', '--data', dir, ...args])
    t.equal(r.code, 2, args.join(' '))
  }
  t.equal((await run(XBRIDGE, ['serve'])).code, 2, '--data is required')
  t.equal((await run(XBRIDGE, ['bogus'])).code, 2, 'unknown command')
  const missing = await admin(join(dir, 'nowhere'), ['stats', '--json'])
  t.equal(missing.code, 1, 'a runtime error exits 1')
  t.match(missing.stderr, /^error XC_CONFIG: /)
})

t.test('serve with TLS', async (t) => {
  const dir = t.testdir()
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } })
  const c = forge.pki.createCertificate()
  c.publicKey = forge.pki.publicKeyFromPem(publicKey)
  c.serialNumber = '02'
  c.validity.notBefore = new Date(Date.now() - 60_000)
  c.validity.notAfter = new Date(Date.now() + 86400_000)
  c.setSubject([{ name: 'commonName', value: 'localhost' }])
  c.setIssuer([{ name: 'commonName', value: 'localhost' }])
  c.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create())
  writeFileSync(join(dir, 'cert.pem'), forge.pki.certificateToPem(c))
  writeFileSync(join(dir, 'key.pem'), privateKey)
  const s = await serve(t, ['--data', join(dir, 'b'), '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')])
  const url = s.firstLine.replace(/^listening /, '')
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const body = await new Promise<string>((resolve, reject) => {
    request(`${url}/v1/info`, { rejectUnauthorized: false }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => resolve(text))
    }).on('error', reject).end()
  })
  t.match(JSON.parse(body), { version: 1 })
})

t.test('admin: users add, hosts list, shards list, stats (while serve runs)', async (t) => {
  const dir = t.testdir()
  const s = await serve(t, ['--data', dir])
  const url = s.firstLine.replace(/^listening /, '')
  const api = apiFor(url)

  const add = await admin(dir, ['users', 'add', 'Dana@Example.com', '--kdf-n', '1024'], 'hunter2 is long enough\nignored second line\n')
  t.equal(add.code, 0, add.stderr)
  const words = add.stdout.trim().split('\n').at(-1)!.split(' ')
  t.equal(words.length, 24, 'a 24-word recovery phrase')
  t.match(add.stdout, /created user [0-9a-f]{32} <dana@example.com>/)
  const dup = await admin(dir, ['users', 'add', 'dana@example.com'], 'x\n')
  t.equal(dup.code, 1)
  t.match(dup.stderr, /^error XC_EMAIL_TAKEN/)
  t.equal((await admin(dir, ['users', 'add', 'eve@example.com'], '')).code, 2, 'no password on stdin')

  // The account works exactly like one a client registered.
  const { kdf } = (await api('GET', '/v1/auth/params?email=dana@example.com')).body
  t.equal(kdf.N, 1024)
  const keys = await derivePasswordKeys('hunter2 is long enough', kdf)
  const login = await api('POST', '/v1/auth/login', { body: { email: 'dana@example.com', authKey: keys.authKey.toString('base64url') } })
  t.equal(login.status, 200)
  const mk = unwrapKey(keys.wrappingKey, login.body.wrappedMasterKey, 'xc-mk-v1')
  t.same(mk, phraseToMasterKey(words.join(' ')), 'the phrase is the wrapped master key')

  const hs = await announcedHosts(t, { api }, 3)
  const u = await newUser({ api })
  const up = (await api('POST', '/v1/uploads', { session: u.session, body: {} })).body
  const shards = shardRefs(2, 4096)
  const placed: PlaceResponse = (await api('POST', `/v1/uploads/${up.uploadId}/shards`, { session: u.session, body: { shards } })).body
  await api('POST', `/v1/uploads/${up.uploadId}/receipts`, { session: u.session, body: { receipts: receiptsFor(placed, hs) } })
  const c = await api('POST', `/v1/uploads/${up.uploadId}/commit`, { session: u.session, body: { target: { parentId: u.rootId, nameHash: hex(32), encName: 'eA' }, baseVersionId: null, size: 8192, wrappedKey: b64(60), manifest: b64(100), shards } })
  t.equal(c.status, 200)
  await api('POST', '/v1/reports', { session: u.session, body: { hostId: hs[0]!.id, hash: shards[0]!.hash, reason: 'timeout' } })

  const hosts = JSON.parse((await admin(dir, ['hosts', 'list', '--json'])).stdout)
  t.equal(hosts.length, 3)
  for (const h of hosts) {
    t.same(Object.keys(h).sort(), ['approved', 'auditsFailed', 'auditsPassed', 'banned', 'capacity', 'createdAt', 'failures', 'free', 'id', 'lastHeartbeat', 'online', 'region', 'reputation', 'schedule', 'shards', 'state', 'url', 'used'].sort())
    t.equal(h.online, true)
    t.equal(h.shards, 2)
    t.equal(h.failures, h.id === hs[0]!.id ? 1 : 0)
  }
  const listed = JSON.parse((await admin(dir, ['shards', 'list', '--json'])).stdout)
  t.same(listed.map((x: { hash: string }) => x.hash).sort(), shards.map((x) => x.hash).sort())
  for (const x of listed) {
    t.equal(x.size, 4096)
    t.same([...x.hosts].sort(), hs.map((h) => h.id).sort())
  }
  const stats = JSON.parse((await admin(dir, ['stats', '--json'])).stdout)
  t.match(stats, { users: 2, hosts: 3, hostsOnline: 3, shards: 2, shardsUnderTarget: 0, bytesStored: 6 * 4096, files: 1, versions: 1 })
  t.match(stats, { hostsByState: { online: 3 }, repair: { queued: 0 }, audits: { passed: 0, failed: 0 } }, 'and the network at a glance (test/bridge/stats.test.ts)')

  // Readable tables without --json.
  t.match((await admin(dir, ['hosts', 'list'])).stdout, /^ID\s+URL\s+REGION\s+STATE/)
  t.match((await admin(dir, ['shards', 'list'])).stdout, /^HASH\s+SIZE\s+MIRRORS/)
  t.match((await admin(dir, ['stats'])).stdout, /^data\s+2 users/m)
})
