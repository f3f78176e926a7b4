/**
 * A crypto worker that dies in the middle of a transfer (its buffers go with it) costs neither the
 * put nor the get, and no host is blamed for it: the put seals the shard again on the main thread,
 * the get fetches the lost shards again.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { CryptoPool } from '../../src/client/transfer/crypto-pool.js'
import { XCloudClient } from '../../src/client/client.js'
import type { HostReport } from '../../src/shared/protocol.js'
import { newUser, randomFile, sha256File, startNetwork, workdir } from '../helpers/network.js'

const MiB = 1024 * 1024
const FAILING = new URL('../client/helpers/failing-crypto-worker.js', import.meta.url)

/**
 * A one-thread pool whose first worker takes a job, then exits; `mark` records that it did. The
 * workers that replace it find `mark` made and are the real one. (Each worker copies the
 * environment when it starts, so the setting stays until the next pool's.)
 */
async function poolThatLosesAWorker(mark: string): Promise<CryptoPool> {
  process.env.XC_TEST_WORKER_FAILS = `once=${mark}`
  const pool = new CryptoPool(1, FAILING)
  const began = Date.now()
  while (!pool.ready() && Date.now() - began < 10_000) await new Promise((r) => setTimeout(r, 5))
  return pool
}

t.test('a crypto worker lost mid-put and mid-get: both succeed, no host reported', async (t) => {
  const net = await startNetwork(t)
  const user = await newUser(t, net, 'worker-loss@example.com')
  const dir = workdir(t)
  const file = path.join(dir, 'f.bin')
  const sum = await randomFile(file, 8 * MiB + 12345)
  const client = await XCloudClient.fromHome(user.home)
  t.teardown(() => client.close())
  const reports: HostReport[] = []
  const report = client.bridge.report.bind(client.bridge)
  client.bridge.report = (r: HostReport) => { reports.push(r); return report(r) }

  t.teardown(() => { delete process.env.XC_TEST_WORKER_FAILS })

  const putMark = path.join(dir, 'put-mark')
  const putPool = await poolThatLosesAWorker(putMark)
  await client.put(file, '/f.bin', { cryptoPool: putPool })
  t.match(await readFile(putMark, 'utf8'), /job/, 'the put lost a worker with a shard in it')

  const getMark = path.join(dir, 'get-mark')
  const getPool = await poolThatLosesAWorker(getMark)
  const out = path.join(dir, 'back.bin')
  await client.get('/f.bin', out, { pool: getPool })
  t.match(await readFile(getMark, 'utf8'), /job/, 'the get lost a worker with a shard in it')
  t.equal(await sha256File(out), sum, 'the file came back byte-identical')
  t.same(reports, [], 'no host was reported for bytes our own worker lost')
})
