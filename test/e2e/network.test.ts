/**
 * The storage network end to end, through the real programs: a bridge and 6 hosts on loopback,
 * clients as `xcloud` processes.
 */
import t from 'tap'
import { readFile, readdir, writeFile, stat, open } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { workdir, newUser, randomFile, sha256File, shardPath, startNetwork, type HostRow, type ShardRow } from '../helpers/network.js'

const MiB = 1024 * 1024

t.test('64 MiB round trip, 3 distinct mirrors, survives dead and lying hosts', async (t) => {
  const net = await startNetwork(t, { hosts: 6 })
  const alice = await newUser(t, net, 'alice@example.com')
  const dir = workdir(t)
  const src = path.join(dir, 'big.bin')
  const want = await randomFile(src, 64 * MiB)

  await alice.ok('mkdir', '/data')
  await alice.ok('put', src, '/data/big.bin')
  const back = path.join(dir, 'back.bin')
  await alice.ok('get', '/data/big.bin', back)
  t.equal(await sha256File(back), want, 'byte-identical after put/get')

  const shards = await net.admin<ShardRow[]>('shards', 'list')
  t.equal(shards.length, 32, '64 MiB is 32 shards of 2 MiB')
  for (const s of shards) {
    t.equal(new Set(s.hosts).size, 3, `shard ${s.hash.slice(0, 8)} on 3 distinct hosts`)
  }
  const hostsWithData = new Set(shards.flatMap((s) => s.hosts))
  t.ok(hostsWithData.size >= 5, `load spread over ${hostsWithData.size} hosts`)

  // Two hosts die (both hold data: every host does with 96 mirrors over 6 hosts).
  await net.stopHost(0, 'SIGKILL')
  await net.stopHost(1, 'SIGKILL')
  const back2 = path.join(dir, 'back2.bin')
  await alice.ok('get', '/data/big.bin', back2)
  t.equal(await sha256File(back2), want, 'byte-identical with 2 of 6 hosts down')

  // The two come back; then a host lies: every shard file it stores is overwritten with garbage
  // of the same size (each shard keeps two honest mirrors).
  await net.startHost(0)
  await net.startHost(1)
  const liar = net.hosts[2]!
  let corrupted = 0
  for (const s of shards.filter((s) => s.hosts.includes(liar.id))) {
    await writeFile(shardPath(liar.dir, s.hash), randomBytes(s.size))
    corrupted++
  }
  t.ok(corrupted > 0, `corrupted ${corrupted} shards on one host`)
  const back3 = path.join(dir, 'back3.bin')
  await alice.ok('get', '/data/big.bin', back3)
  t.equal(await sha256File(back3), want, 'byte-identical despite a host returning garbage')
  const hosts = await net.admin<HostRow[]>('hosts', 'list')
  const liarRow = hosts.find((h) => h.id === liar.id)
  t.ok(liarRow && liarRow.failures > 0, `bridge recorded the lying host's failures (${liarRow?.failures})`)
})

t.test('the bridge and hosts never see names or plaintext', async (t) => {
  const net = await startNetwork(t, { hosts: 4 })
  const bob = await newUser(t, net, 'bob@example.com')
  const dir = workdir(t)
  const marker = Buffer.from('XCLOUD-PLAINTEXT-MARKER-6f1d2c9a-0b7e-4f53-9c1e-8a2b3c4d5e6f-END!').subarray(0, 64)
  t.equal(marker.length, 64)
  const names = ['Quarterly-Secret-Plans-Zq81.txt', 'folder-Kx7Lm2-private']
  const file = path.join(dir, names[0]!)
  // The marker at shard-crossing and unaligned offsets, plus a small file that is all marker.
  const body = Buffer.concat([randomBytes(2 * MiB - 17), marker, randomBytes(100_000), marker, marker])
  await writeFile(file, body)
  await bob.ok('mkdir', `/${names[1]}`)
  await bob.ok('put', file, `/${names[1]}/${names[0]}`)
  const small = path.join(dir, 'small.txt')
  await writeFile(small, marker)
  await bob.ok('put', small, `/${names[1]}/small-${names[0]}`)
  const ls = await bob.ok('ls', `/${names[1]}`)
  t.match(ls, names[0], 'the owner sees the names')

  const needles = [marker, ...names.map((n) => Buffer.from(n)), Buffer.from(names[0]!, 'utf16le')]
  const scanned: string[] = []
  async function scan(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) { await scan(p); continue }
      const bytes = await readFile(p)
      scanned.push(p)
      needles.forEach((n, i) => t.equal(bytes.indexOf(n), -1, `${path.relative(net.opts.dir, p)} does not contain secret #${i}`))
    }
  }
  await scan(net.bridgeDir)
  for (const h of net.hosts) await scan(h.dir)
  t.ok(scanned.some((p) => p.endsWith('bridge.db')), 'scanned the bridge database')
  t.ok(scanned.some((p) => p.includes(`${path.sep}shards${path.sep}`)), 'scanned host shard files')
})

t.test('tokens bind one shard to one host and expire', async (t) => {
  const net = await startNetwork(t, { hosts: 3, mirrors: 3 })
  const carol = await newUser(t, net, 'carol@example.com')
  const file = path.join(workdir(t), 'f.bin')
  await writeFile(file, randomBytes(3 * MiB))
  await carol.ok('put', file, '/f.bin')
  const { BridgeClient } = await import('../../src/client/remote/bridge-client.js')
  const { credentials } = await import('../helpers/network.js')
  const c = await credentials(carol.home)
  const bridge = new BridgeClient(c.bridge, c.session)
  const node = await bridge.lookup((await bridge.root()).id, (await import('../../src/shared/crypto/index.js')).nameHash(
    (await import('../../src/shared/crypto/index.js')).deriveAccountKeys(Buffer.from(c.masterKey, 'base64url')), (await bridge.root()).id, 'f.bin'))
  t.ok(node, 'found the file node')
  const info = await bridge.content(node!.id)
  const tok = await bridge.tokens(info.versionId, 0, 2)
  const [s0, s1] = tok.shards
  const { getShard, closeAgents } = await import('../../src/client/transfer/host-client.js')
  t.teardown(closeAgents)
  const m0 = s0!.mirrors[0]!
  const h0 = tok.hosts[m0.hostId]!
  const ok = await getShard(h0, m0.token, s0!.hash, s0!.size)
  t.equal(ok.data.length, s0!.size, 'a valid token reads its shard')

  await t.rejects(getShard(h0, m0.token, s1!.hash, s1!.size), { code: 'XC_TOKEN_SCOPE' }, 'token for another shard')
  const other = s0!.mirrors.find((m) => m.hostId !== m0.hostId)!
  await t.rejects(getShard(tok.hosts[other.hostId]!, m0.token, s0!.hash, s0!.size), { code: 'XC_TOKEN_SCOPE' }, 'token for another host')
  const [body, sig] = m0.token.split('.')
  const claims = JSON.parse(Buffer.from(body!, 'base64url').toString())
  const forgedBody = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 3_600_000 })).toString('base64url')
  await t.rejects(getShard(h0, `${forgedBody}.${sig}`, s0!.hash, s0!.size), { code: 'XC_TOKEN_INVALID' }, 'forged token')
  const keys = JSON.parse(await readFile(path.join(net.bridgeDir, 'keys.json'), 'utf8'))
  const { privateKeyObject, signTransferToken } = await import('../../src/shared/tokens.js')
  const priv = privateKeyObject(keys.privateKey ?? keys.signing?.privateKey)
  const expired = signTransferToken(priv, { ...claims, exp: Date.now() - 1000 })
  await t.rejects(getShard(h0, expired, s0!.hash, s0!.size), { code: 'XC_TOKEN_EXPIRED' }, 'expired token')
  await t.rejects(getShard(h0, '', s0!.hash, s0!.size), { code: 'XC_TOKEN_MISSING' }, 'no token')
})

t.test('user B cannot list, read or get tokens for user A', async (t) => {
  const net = await startNetwork(t, { hosts: 3 })
  const a = await newUser(t, net, 'a@example.com')
  const b = await newUser(t, net, 'b@example.com')
  const file = path.join(workdir(t), 'mine.txt')
  await writeFile(file, 'only for a')
  await a.ok('put', file, '/mine.txt')
  const aLs = JSON.parse(await a.ok('ls', '/', '--json')) as Array<{ id: string; name: string; versionId: string }>
  const mine = aLs.find((e) => e.name === 'mine.txt')!
  t.ok(mine, 'a sees her file')
  t.same(JSON.parse(await b.ok('ls', '/', '--json')), [], 'b sees an empty drive')
  const r = await b.xcloud('get', '/mine.txt', path.join(workdir(t), 'stolen'))
  t.not(r.code, 0, 'b cannot get a path of a')

  const { BridgeClient } = await import('../../src/client/remote/bridge-client.js')
  const { credentials } = await import('../helpers/network.js')
  const cb = await credentials(b.home)
  const ca = await credentials(a.home)
  const asB = new BridgeClient(cb.bridge, cb.session)
  const aRoot = await new BridgeClient(ca.bridge, ca.session).root()
  await t.rejects(asB.node(mine.id), { code: 'XC_NOT_FOUND' }, 'b cannot read a node of a')
  await t.rejects(asB.children(aRoot.id), { code: 'XC_NOT_FOUND' }, 'b cannot list a folder of a')
  await t.rejects(asB.content(mine.id), { code: 'XC_NOT_FOUND' }, 'b cannot get content info of a')
  await t.rejects(asB.tokens(mine.versionId, 0, 1), { code: 'XC_NOT_FOUND' }, 'b cannot get tokens for a version of a')
  await t.rejects(asB.move(mine.id, { parentId: (await asB.root()).id, nameHash: 'a'.repeat(64), encName: 'AAAA' }), { code: 'XC_NOT_FOUND' }, 'b cannot move a file of a')
  await t.rejects(asB.deleteNode(mine.id), { code: 'XC_NOT_FOUND' }, 'b cannot delete a file of a')
  const still = path.join(workdir(t), 'still.txt')
  await a.ok('get', '/mine.txt', still)
  t.equal(await readFile(still, 'utf8'), 'only for a', 'a still has her file')
  void stat; void open
})

t.test('a stalled host neither blocks nor fails a put', async (t) => {
  const net = await startNetwork(t, { hosts: 5 })
  const dave = await newUser(t, net, 'dave@example.com')
  const file = path.join(workdir(t), 'f.bin')
  const want = await randomFile(file, 12 * MiB)
  // A frozen process: its kernel still accepts connections, but nothing answers.
  const frozen = net.hosts[0]!
  process.kill(frozen.proc!.pid!, 'SIGSTOP')
  t.teardown(() => { try { process.kill(frozen.proc!.pid!, 'SIGCONT') } catch { /* gone */ } })
  const started = Date.now()
  await dave.ok('put', file, '/f.bin')
  const took = Date.now() - started
  // Stand-ins start after a few seconds; waiting out the 15 s idle timeout would take longer.
  t.ok(took < 12_000, `put finished in ${took} ms despite a frozen host`)
  const shards = await net.admin<ShardRow[]>('shards', 'list')
  t.equal(shards.length, 6)
  for (const s of shards) {
    const live = s.hosts.filter((h) => h !== frozen.id)
    t.ok(new Set(live).size >= 3, `shard ${s.hash.slice(0, 8)} has 3 live mirrors`)
  }
  const back = path.join(workdir(t), 'back.bin')
  await dave.ok('get', '/f.bin', back)
  t.equal(await sha256File(back), want, 'reads back identical while the host is still frozen')
  process.kill(frozen.proc!.pid!, 'SIGCONT')
})
