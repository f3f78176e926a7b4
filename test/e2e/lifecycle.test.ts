/**
 * Garbage collection and graceful exit (done-means 4 and 5): deleted and overwritten files' shards
 * leave the hosts after the grace period, and host disks hold exactly what live data needs; a
 * host that runs `xcore exit` hands every shard over, and reads never fail meanwhile.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { programArgv } from '../../src/shared/node-flags.js'
import { fastNetwork, healthy, hostsOf, newUser, putFiles, readsBack, shardsOf, until } from '../helpers/healing.js'
import { randomFile, workdir } from '../helpers/network.js'

const execFileP = promisify(execFile)
const MiB = 1024 * 1024

/** hash → size of every shard file under a host's shards/ folder. */
async function onDisk(hostDir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  const root = path.join(hostDir, 'shards')
  for (const a of await readdir(root).catch(() => [])) {
    for (const b of await readdir(path.join(root, a)).catch(() => [])) {
      for (const f of await readdir(path.join(root, a, b)).catch(() => [])) out.set(f, (await stat(path.join(root, a, b, f))).size)
    }
  }
  return out
}

t.test('deleted and overwritten files leave the hosts after the grace period', async (t) => {
  const net = await fastNetwork(t, 4, { bridgeFlags: ['--gc-grace', '1s'] })
  const alice = await newUser(t, net, 'alice@example.com')
  const [gone, kept] = await putFiles(t, alice, [3 * MiB, 2 * MiB])
  const old = await shardsOf(net)
  await alice.ok('rm', gone!.remote)
  // Overwrite: the same path gets new content, a new version; the old one retires.
  const local = path.join(workdir(t), 'new.bin')
  const live = { remote: kept!.remote, sha: await randomFile(local, 2 * MiB + 9), size: 2 * MiB + 9 }
  await alice.ok('put', local, kept!.remote)
  const [fresh] = await putFiles(t, alice, [1 * MiB + 3], 'g')

  await until(async () => {
    const shards = await shardsOf(net)
    const wanted = new Map<string, Set<string>>()
    for (const s of shards) for (const h of s.hosts) (wanted.get(h) ?? wanted.set(h, new Set()).get(h)!).add(s.hash)
    for (const h of net.hosts) {
      const disk = await onDisk(h.dir)
      const want = wanted.get(h.id) ?? new Set()
      if (disk.size !== want.size || [...want].some((x) => !disk.has(x))) return false
    }
    return !shards.some((s) => old.some((o) => o.hash === s.hash))
  }, 20_000, 'hosts to hold exactly the live shards')
  const shards = await shardsOf(net)
  t.notOk(shards.some((s) => old.some((o) => o.hash === s.hash)), 'no old shard is known to the bridge')
  let diskBytes = 0
  for (const h of net.hosts) for (const size of (await onDisk(h.dir)).values()) diskBytes += size
  const liveBytes = shards.reduce((a, s) => a + s.size * s.hosts.length, 0)
  t.equal(diskBytes, liveBytes, `host disks hold ${diskBytes} bytes, what live data needs`)
  t.ok(await readsBack(t, alice, [fresh!, live]), 'live files read back identical')
})

t.test('xcore exit hands every shard over; reads never fail', async (t) => {
  const net = await fastNetwork(t, 5)
  const alice = await newUser(t, net, 'alice@example.com')
  const files = await putFiles(t, alice, [4 * MiB, 1 * MiB + 1])
  const shards = await shardsOf(net)
  const leaving = net.hosts.find((h) => shards.filter((s) => s.hosts.includes(h.id)).length >= 2)!

  let reads = 0
  let failures = 0
  let reading = true
  const reader = (async () => {
    while (reading) {
      if (await readsBack(t, alice, files)) reads++
      else failures++
    }
  })()
  const { stdout } = await execFileP(process.execPath, programArgv('xcore', ['exit', '--data', leaving.dir, '--timeout', '60s']))
  reading = false
  await reader
  t.match(stdout, /exited/i, 'xcore exit reports the host exited')
  const after = await shardsOf(net)
  t.notOk(after.some((s) => s.hosts.includes(leaving.id)), 'no shard depends on the exited host')
  t.ok(healthy(after, new Set(net.hosts.filter((h) => h !== leaving).map((h) => h.id)), 3), 'every shard on 3 other hosts')
  t.equal((await hostsOf(net)).find((h) => h.id === leaving.id)!.state, 'exited')
  t.ok(reads > 0, `${reads} full reads during the exit`)
  t.equal(failures, 0, 'no read failed')
  t.ok(await readsBack(t, alice, files), 'files read back identical afterwards')
})
