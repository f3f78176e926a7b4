/**
 * Approval, regions, earnings and signed orders (done-means 6, 7, 8).
 */
import t from 'tap'
import { X509Certificate, randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { DEFAULT_PRICES } from '../../src/bridge/earnings/prices.js'
import { pinnedRequest } from '../../src/shared/http/pinned.js'
import { signOrder } from '../../src/shared/orders.js'
import { programArgv } from '../../src/shared/node-flags.js'
import type { HostContact } from '../../src/shared/protocol.js'
import { generateSigningKeys, privateKeyObject } from '../../src/shared/tokens.js'
import { fastNetwork, newUser, putFiles, readsBack, shardsOf, until, type ShardRow } from '../helpers/healing.js'
import { loginDevice, randomFile, workdir } from '../helpers/network.js'

const execFileP = promisify(execFile)
const MiB = 1024 * 1024

t.test('approval and regions decide where data goes', async (t) => {
  const net = await fastNetwork(t, 6, { bridgeFlags: ['--require-approval'], host: (i) => ({ region: i < 3 ? 'eu' : 'us' }) })
  const alice = await newUser(t, net, 'alice@example.com')
  const local = path.join(workdir(t), 'a.bin')
  await randomFile(local, 3 * MiB)

  const refused = await alice.xcloud('put', local, '/a.bin')
  t.not(refused.code, 0, 'no approved hosts: the put fails')
  t.match(refused.stderr, /XC_NOT_ENOUGH_HOSTS/)

  const unapproved = net.hosts[5]!
  for (const h of net.hosts.slice(0, 5)) await net.admin('hosts', 'approve', h.id.slice(0, 12))
  await alice.ok('put', local, '/a.bin')
  const a = await shardsOf(net)
  t.ok(a.length > 0 && a.every((s) => !s.hosts.includes(unapproved.id)), 'the unapproved host got no data')

  await net.admin('users', 'set-regions', 'alice@example.com', 'eu')
  const eu = new Set(net.hosts.slice(0, 3).map((h) => h.id))
  const files = await putFiles(t, alice, [4 * MiB + 1], 'eu')
  const b = (await shardsOf(net)).filter((s) => !a.some((x) => x.hash === s.hash))
  t.ok(b.length > 0 && b.every((s) => s.hosts.every((h) => eu.has(h))), 'a region-limited user\'s shards are only on hosts of that region')

  await net.admin('users', 'set-regions', 'alice@example.com', 'us')
  const tooFew = await alice.xcloud('put', local, '/us.bin')
  t.not(tooFew.code, 0, 'only 2 approved hosts in "us": placement fails')
  t.match(tooFew.stderr, /XC_REGION.*us/, 'with a clear error naming the region')

  // Repair keeps a shard in its region: with an eu host gone, the eu shards wait for an eu host
  // rather than moving to us.
  await net.stopHost(0, 'SIGKILL')
  await new Promise((r) => setTimeout(r, 3000))
  const after = (await shardsOf(net)).filter((s) => b.some((x) => x.hash === s.hash))
  t.ok(after.every((s) => s.hosts.every((h) => eu.has(h))), 'repair did not move eu shards out of eu')
  t.ok(await readsBack(t, alice, files), 'eu files still read back')
})

interface LedgerRow {
  hostId: string
  storageByteMs: number
  egressBytes: number
  earnings: { allTime: number; currency: string }
  entries: Array<{ kind: string; periodStart: number; periodEnd: number; quantity: number; unitPrice: number; amount: number }>
}

t.test('earnings add up: stored byte-hours and served bytes, exactly', async (t) => {
  const net = await fastNetwork(t, 3)
  const alice = await newUser(t, net, 'alice@example.com')
  const files = await putFiles(t, alice, [4 * MiB + 100])
  await new Promise((r) => setTimeout(r, 1500))
  const shards = await shardsOf(net)
  const ledger = await net.admin<LedgerRow[]>('ledger')
  for (const h of net.hosts) {
    const row = ledger.find((r) => r.hostId === h.id)!
    const storage = row.entries.filter((e) => e.kind === 'storage').sort((x, y) => x.periodStart - y.periodStart)
    t.ok(storage.length >= 2, `host ${h.index}: ${storage.length} storage entries`)
    for (let i = 1; i < storage.length; i++) t.ok(storage[i]!.periodStart >= storage[i - 1]!.periodEnd, 'windows never overlap')
    const end = storage.at(-1)!.periodEnd
    const held = shards.flatMap((s) => s.mirrors.filter((m) => m.hostId === h.id).map((m) => ({ size: s.size, storedAt: m.storedAt })))
    const expected = held.reduce((a, m) => a + m.size * (end - m.storedAt), 0)
    t.equal(row.storageByteMs, expected, `host ${h.index}: ${(expected / 1e9 / 3.6e6).toExponential(6)} GB-hours, to the byte-millisecond`)
    const amount = storage.reduce((a, e) => a + e.amount, 0)
    t.ok(Math.abs(amount - (expected / 1e9 / 3.6e6) * DEFAULT_PRICES.storagePerGBHour) < 1e-15, 'amount = GB-hours × price')
  }

  // Serve: a fresh device reads the file; each host is paid exactly the bytes it reported sending.
  const bob = await loginDevice(t, net, 'alice@example.com')
  t.ok(await readsBack(t, bob, files))
  const served = await until(async () => {
    const rows = await net.admin<LedgerRow[]>('ledger')
    const statuses = await Promise.all(net.hosts.map(async (h) => JSON.parse((await execFileP(process.execPath, programArgv('xcore', ['status', '--data', h.dir, '--json']))).stdout) as { bytesOut: number }))
    const ok = net.hosts.every((h, i) => rows.find((r) => r.hostId === h.id)!.egressBytes === statuses[i]!.bytesOut)
    const total = rows.reduce((a, r) => a + r.egressBytes, 0)
    return ok && total >= files[0]!.size && total
  }, 15_000, 'egress in the ledger to match what hosts sent')
  t.pass(`${served} bytes served and paid`)
})

t.test('orders are signed by the bridge: forged, replayed, expired and misdirected ones are refused', async (t) => {
  const net = await fastNetwork(t, 3)
  const keys = JSON.parse(await readFile(path.join(net.bridgeDir, 'keys.json'), 'utf8')) as { privateKey: string }
  const h = net.hosts[0]!
  const cert = await readFile(path.join(h.dir, 'tls', 'cert.pem'), 'utf8')
  const contact: HostContact = { id: h.id, url: h.url, cert, fingerprint: new X509Certificate(cert).fingerprint256, region: 'default' }
  const send = async (wire: string) => {
    try {
      const body = await pinnedRequest(contact, { method: 'POST', path: '/orders', body: Buffer.from(JSON.stringify({ order: wire })), headers: { 'content-type': 'application/json' } })
      return { ok: true, body: JSON.parse(body.toString()) as unknown, code: '' }
    } catch (err) {
      return { ok: false, body: null, code: (err as { code: string }).code }
    }
  }
  const body = { kind: 'delete' as const, hashes: [randomBytes(32).toString('hex')] }
  const nonce = () => randomBytes(12).toString('base64url')
  const wire = signOrder(privateKeyObject(keys.privateKey), h.id, body, Date.now(), nonce())
  const first = await send(wire)
  t.ok(first.ok, 'a bridge-signed order runs')
  t.equal((await send(wire)).code, 'XC_ORDER_REPLAYED', 'the same order twice is refused')
  t.equal((await send(signOrder(privateKeyObject(generateSigningKeys().privateKey), h.id, body, Date.now(), nonce()))).code, 'XC_ORDER_INVALID', 'forged')
  t.equal((await send(signOrder(privateKeyObject(keys.privateKey), net.hosts[1]!.id, body, Date.now(), nonce()))).code, 'XC_ORDER_SCOPE', 'for another host')
  t.equal((await send(signOrder(privateKeyObject(keys.privateKey), h.id, body, Date.now() - 120_000, nonce()))).code, 'XC_ORDER_EXPIRED', 'expired')

  // Host → bridge calls are signed too: an exit request without a valid host signature is refused.
  const res = await fetch(`${net.bridgeUrl}/v1/hosts/exit`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-xc-host': h.id, 'x-xc-ts': String(Date.now()), 'x-xc-sig': 'A'.repeat(86) }, body: '{}' })
  t.equal(res.status, 401)
  t.match(await res.json(), { error: { code: 'XC_HOST_SIGNATURE' } })
  t.notOk((await shardsOf(net) as ShardRow[]).length, 'nothing was stored')
})
