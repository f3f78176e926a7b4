/**
 * Only what a call touches moves: a 4 KiB write inside a large file re-uploads at most 2 shards
 * (per mirror), and a 4 KiB read far into a file that is not cached fetches at most 2 shards.
 */
import t from 'tap'
import { loginDevice, newUser, startNetwork, workdir } from '../helpers/network.js'
import { mount, sh, until } from '../helpers/mount.js'

interface Status { pendingOps: number; shardsUploaded: number; shardsReused: number; shardsFetched: number }

t.test('a 4 KiB change uploads at most 2 shards; a 4 KiB read fetches at most 2', async (t) => {
  const net = await startNetwork(t, { hosts: 6 })
  const user = await newUser(t, net, 'partial@example.com')
  const status = async (u = user): Promise<Status> => JSON.parse(await u.ok('status', '--json')) as Status
  const src = `${workdir(t, 'src')}/big.bin`
  const MiB = 1024 * 1024
  await sh(`head -c ${200 * MiB} /dev/urandom > '${src}'`)
  const m = await mount(t, user)
  await sh(`cp '${src}' '${m.dir}/big.bin'`)
  // status.json lags up to a second behind the daemon: wait for the upload itself to be counted.
  await until(async () => { const s = await status(); return s.pendingOps === 0 && s.shardsUploaded >= 100 }, 120_000, 'the first upload')
  const before = await status()
  t.equal(before.shardsUploaded, 100, '200 MiB went up as 100 shards')

  // 4 KiB at 150 MiB + 1 MiB - 2 KiB: inside shard 75 only.
  const at = 150 * MiB + MiB - 2048
  await sh(`head -c 4096 /dev/urandom > '${src}.patch' && dd if='${src}.patch' of='${m.dir}/big.bin' bs=4096 seek=${at} oflag=seek_bytes conv=notrunc status=none && dd if='${src}.patch' of='${src}' bs=4096 seek=${at} oflag=seek_bytes conv=notrunc status=none`)
  await until(async () => { const s = await status(); return s.pendingOps === 0 && s.shardsUploaded + s.shardsReused > before.shardsUploaded + before.shardsReused }, 60_000, 'the second upload')
  const after = await status()
  t.ok(after.shardsUploaded - before.shardsUploaded <= 2, `the change re-uploaded ${after.shardsUploaded - before.shardsUploaded} shard(s)`)
  t.ok(after.shardsReused - before.shardsReused >= 98, `${after.shardsReused - before.shardsReused} shards kept from the previous version`)
  const shards = await net.admin<unknown[]>('shards', 'list')
  t.ok(shards.length <= 102, `the network holds ${shards.length} shards (100 + at most 2 new)`)

  // A fresh device reads 4 KiB at 190 MiB: the shards covering it, not the file.
  const other = await loginDevice(t, net, 'partial@example.com')
  const m2 = await mount(t, other)
  const want = (await sh(`dd if='${src}' bs=4096 skip=${190 * MiB} iflag=skip_bytes count=1 status=none | sha256sum`)).stdout
  const got = (await sh(`dd if='${m2.dir}/big.bin' bs=4096 skip=${190 * MiB} iflag=skip_bytes count=1 status=none | sha256sum`)).stdout
  t.equal(got, want, 'the bytes read are right')
  // status.json is refreshed every second.
  await until(async () => (await status(other)).shardsFetched > 0, 5000, 'the read to be counted')
  const fetched = (await status(other)).shardsFetched
  t.ok(fetched >= 1 && fetched <= 2, `the read fetched ${fetched} shard(s)`)
  t.equal((await sh(`sha256sum < '${m2.dir}/big.bin'`)).stdout, (await sh(`sha256sum < '${src}'`)).stdout, 'the whole file, edit included, reads back identical')
})
