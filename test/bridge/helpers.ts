/**
 * Bridge test helpers: an in-process bridge on an ephemeral loopback port with a temp data folder,
 * a JSON client, users, and fake hosts that announce with real signatures and sign receipts with
 * their own keys. Everything started registers its own teardown.
 */
import { createHash, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto'
import forge from 'node-forge'
import type { Test } from 'tap'
import { defaultKdfParams } from '../../src/shared/crypto/index.js'
import type { AnnounceRequest, PlaceResponse, ShardRef } from '../../src/shared/protocol.js'
import {
  HOST_SIG_HEADERS, generateSigningKeys, hostIdOf, hostRequestBytes, privateKeyObject, signBytes, signReceipt, type Receipt,
} from '../../src/shared/tokens.js'
import { startBridge, type BridgeOptions } from '../../src/bridge/server.js'

export interface Reply<T = any> {
  status: number
  body: T
}

export interface TestBridge {
  url: string
  dir: string
  /** JSON request; `body` of a string is sent as is (for malformed JSON). */
  api<T = any>(method: string, path: string, opts?: { body?: unknown; session?: string; headers?: Record<string, string> }): Promise<Reply<T>>
  close(): Promise<void>
}

/** A JSON client for a bridge URL. */
export function apiFor(url: string): TestBridge['api'] {
  return async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers }
    if (o.session) headers.authorization = `Bearer ${o.session}`
    let body: string | undefined
    if (o.body !== undefined) {
      headers['content-type'] ??= 'application/json'
      body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body)
    }
    const res = await fetch(url + path, { method, headers, ...(body !== undefined ? { body } : {}) })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }
}

export async function startTestBridge(t: Test, opts: Partial<BridgeOptions> = {}): Promise<TestBridge> {
  // A teardown registered before the fixture folder is made keeps tap from removing the folder
  // before the bridge is closed (see workdir() in test/helpers/network.ts).
  t.teardown(() => {})
  const dir = opts.dataDir ?? t.testdir()
  const b = await startBridge({ dataDir: dir, logLevel: 'silent', ...opts })
  t.teardown(() => b.close())
  return { url: b.url, dir, close: () => b.close(), api: apiFor(b.url) }
}

export const b64 = (n: number): string => randomBytes(n).toString('base64url')
export const hex = (n: number): string => randomBytes(n).toString('hex')
export const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex')

export interface TestUser {
  email: string
  userId: string
  session: string
  authKey: string
  rootId: string
}

export async function newUser(b: Pick<TestBridge, 'api'>, email = `u${hex(4)}@example.com`): Promise<TestUser> {
  const authKey = b64(32)
  const reg = await b.api('POST', '/v1/auth/register', {
    body: { email, authKey, kdf: defaultKdfParams({ N: 1024 }), wrappedMasterKey: b64(60) },
  })
  if (reg.status !== 201) throw new Error(`register: ${JSON.stringify(reg.body)}`)
  const login = await b.api('POST', '/v1/auth/login', { body: { email, authKey } })
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`)
  const root = await b.api('GET', '/v1/tree/root', { session: login.body.session })
  return { email, userId: reg.body.userId, session: login.body.session, authKey, rootId: root.body.id }
}

let certCache: { cert: string; fingerprint: string } | undefined

/** One self-signed certificate shared by the fake hosts (the bridge only pins its fingerprint). */
export function testCert(): { cert: string; fingerprint: string } {
  if (certCache) return certCache
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  })
  const c = forge.pki.createCertificate()
  c.publicKey = forge.pki.publicKeyFromPem(publicKey)
  c.serialNumber = '01'
  c.validity.notBefore = new Date(Date.now() - 60_000)
  c.validity.notAfter = new Date(Date.now() + 365 * 86400_000)
  const attrs = [{ name: 'commonName', value: 'xc-test-host' }]
  c.setSubject(attrs)
  c.setIssuer(attrs)
  c.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create())
  const cert = forge.pki.certificateToPem(c)
  certCache = { cert, fingerprint: new X509Certificate(cert).fingerprint256 }
  return certCache
}

export interface FakeHost {
  id: string
  publicKey: string
  key: KeyObject
  announce: AnnounceRequest
  receipt(hash: string, size: number): Receipt
  /** A host-signed POST; `tamper` changes what is sent after signing. */
  signed(path: string, body: unknown, tamper?: { ts?: number; body?: string; id?: string; sigKey?: KeyObject }): Promise<Reply>
  heartbeat(extra?: Partial<{ capacity: number; used: number }>): Promise<Reply>
}

export function fakeHost(b: Pick<TestBridge, 'api'>, opts: { capacity?: number; used?: number; region?: string } = {}): FakeHost {
  const keys = generateSigningKeys()
  const key = privateKeyObject(keys.privateKey)
  const id = hostIdOf(keys.publicKey)
  const { cert, fingerprint } = testCert()
  const announce: AnnounceRequest = {
    publicKey: keys.publicKey, url: `https://127.0.0.1:${10000 + Math.floor(Math.random() * 50000)}`, fingerprint, cert,
    capacity: opts.capacity ?? 10 * 1024 ** 3, used: opts.used ?? 0, region: opts.region ?? 'eu', maxUploadRate: null, maxDownloadRate: null,
  }
  const signed: FakeHost['signed'] = (path, body, tamper = {}) => {
    const raw = JSON.stringify(body)
    const ts = tamper.ts ?? Date.now()
    const sig = signBytes(tamper.sigKey ?? key, hostRequestBytes('POST', path, ts, raw))
    return b.api('POST', path, {
      body: tamper.body ?? raw,
      headers: { [HOST_SIG_HEADERS.id]: tamper.id ?? id, [HOST_SIG_HEADERS.ts]: String(ts), [HOST_SIG_HEADERS.sig]: sig },
    })
  }
  return {
    id, publicKey: keys.publicKey, key, announce, signed,
    receipt: (hash, size) => signReceipt(key, { host: id, h: hash, size, at: Date.now() }),
    heartbeat: (extra = {}) => signed('/v1/hosts/heartbeat', {
      capacity: announce.capacity, used: announce.used, shards: 0, bytesIn: 0, bytesOut: 0, uptimeMs: 1000, ...extra,
    }),
  }
}

/** Fake hosts, announced. */
export async function announcedHosts(t: Test, b: Pick<TestBridge, 'api'>, n: number, opts: Parameters<typeof fakeHost>[1] = {}): Promise<FakeHost[]> {
  const hosts = Array.from({ length: n }, () => fakeHost(b, opts))
  for (const h of hosts) {
    const r = await h.signed('/v1/hosts/announce', h.announce)
    t.equal(r.status, 200, `announce ${h.id.slice(0, 8)}: ${JSON.stringify(r.body)}`)
  }
  return hosts
}

/** Random shard refs (the bytes never exist: fake hosts only sign receipts). */
export function shardRefs(n: number, size = 1024 * 1024): ShardRef[] {
  return Array.from({ length: n }, () => ({ hash: hex(32), size }))
}

/** Receipts from every target of every placement, signed by the fake hosts placed on. */
export function receiptsFor(p: PlaceResponse, hosts: readonly FakeHost[]): Receipt[] {
  const byId = new Map(hosts.map((h) => [h.id, h]))
  return p.placements.flatMap((pl) => pl.targets.map((tg) => byId.get(tg.hostId)!.receipt(pl.hash, pl.size)))
}
