/**
 * `npm run bench:transfer`: put and get through a local network of real host processes.
 *
 * Part 1: a bridge and 6 hosts (3 mirrors); put then get 1 GiB and 4 GiB, BENCH_RUNS times each
 * (3); prints MB/s (of file bytes; a put moves 3x that to hosts), the median of the runs and each
 * run, and the client's peak RSS (VmHWM of the xcloud process, the highest of the runs). A 1 GiB
 * put takes seven or eight seconds, and this machine's CPU speed drifts by a quarter over minutes:
 * one run is a sample of the moment more than of the code. Every run's shards stay on the hosts
 * until the end (the bridge deletes only after its grace period): with the default sizes, about
 * 45 GiB of disk.
 * Each run line also shows the machine's CPU time per GiB during the put (user + system, every
 * process) and a fixed SHA-256 probe timed just before it: the same put takes more CPU time when
 * the machine is slow, and these tell a slow moment from a slow build.
 * Part 2: every host limited to 16 MB/s upload; get throughput from 1 host (1 mirror) and from 8
 * hosts (3 mirrors); prints the ratio. Everything runs in one go so the figures compare side by
 * side on the same machine state. Sizes can be overridden: BENCH_SIZES=1,4 (GiB), BENCH_SCALE_MIB.
 */
import { spawn } from 'node:child_process'
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { LocalNet } from '../src/localnet/localnet.js'
import { programArgv } from '../src/shared/node-flags.js'
import { median } from './median.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const PASSWORD = 'bench-password'

async function makeFile(file: string, size: number): Promise<string> {
  // AES-CTR keystream: random-looking bytes at memory speed.
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16))
  const zero = Buffer.alloc(4 * MiB)
  const hash = createHash('sha256')
  const out = createWriteStream(file)
  for (let off = 0; off < size; off += zero.length) {
    const chunk = cipher.update(zero.subarray(0, Math.min(zero.length, size - off)))
    hash.update(chunk)
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()))
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
  // Flush it now: gigabytes of dirty page cache would otherwise be written back during the
  // timed put, and on ext4 every host's fsync would wait for that writeback.
  const fh = await open(file, 'r')
  await fh.sync()
  await fh.close()
  return hash.digest('hex')
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const c of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(c as Buffer)
  return hash.digest('hex')
}

/** Run xcloud; returns wall seconds and peak RSS (bytes) sampled from /proc. */
function xcloud(home: string, args: string[]): Promise<{ seconds: number; peakRss: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, programArgv('xcloud', ['--home', home, ...args]), { env: { ...process.env, XCLOUD_PASSWORD: PASSWORD }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => { stderr += d })
    let peak = 0
    const sample = async (): Promise<void> => {
      try {
        const status = await readFile(`/proc/${child.pid}/status`, 'utf8')
        const m = /VmHWM:\s+(\d+) kB/.exec(status)
        if (m) peak = Math.max(peak, Number(m[1]) * 1024)
      } catch { /* exited */ }
    }
    const timer = setInterval(() => void sample(), 50)
    child.on('exit', (code) => {
      clearInterval(timer)
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      if (code === 0) resolve({ seconds, peakRss: peak })
      else reject(new Error(`xcloud ${args.join(' ')} exited ${code}: ${stderr}`))
    })
  })
}

async function newAccount(net: LocalNet, dir: string, email: string): Promise<string> {
  const home = path.join(dir, `home-${email}`)
  await xcloud(home, ['register', '--bridge', net.bridgeUrl, '--email', email, '--kdf-n', '1024'])
  return home
}

/** CPU seconds (user + system, every process on the machine) so far, from /proc/stat. */
async function machineCpuSeconds(): Promise<number> {
  const fields = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  // user, nice, system, idle, iowait, irq, softirq: in USER_HZ (100 per second on Linux).
  return (fields[0]! + fields[1]! + fields[2]! + fields[5]! + fields[6]!) / 100
}

const probeData = randomBytes(64 * MiB)
/** MB/s of SHA-256 over 64 MiB, the best of three: how fast this machine is at the moment. */
function probe(): number {
  let best = Infinity
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint()
    createHash('sha256').update(probeData).digest()
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9)
  }
  return probeData.length / 1e6 / best
}

const mbps = (bytes: number, s: number): number => bytes / 1e6 / s
const fmt = (n: number): string => n.toFixed(1)

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3))

async function part1(root: string, sizesGiB: number[]): Promise<void> {
  const dir = path.join(root, 'p1')
  const net = await LocalNet.start({ dir, hosts: 6, mirrors: 3 })
  try {
    const home = await newAccount(net, dir, 'bench@example.com')
    console.log(`\n## put/get through 6 hosts, 3 mirrors (median of ${RUNS} runs)`)
    console.log('| size | put MB/s | put peak RSS MB | get MB/s | get peak RSS MB | identical |')
    console.log('|---|---|---|---|---|---|')
    const runs: string[] = []
    for (const g of sizesGiB) {
      const size = Math.round(g * GiB)
      const src = path.join(root, `src-${g}.bin`)
      const want = await makeFile(src, size)
      const puts: number[] = []
      const gets: number[] = []
      const rss: string[] = []
      const machine: string[] = []
      let putRss = 0
      let getRss = 0
      let same = true
      for (let r = 0; r < RUNS; r++) {
        // Every put encrypts with a fresh file key: the hosts get new shards each time.
        const remote = `/bench-${g}-${r}.bin`
        const speed = probe()
        const cpu0 = await machineCpuSeconds()
        const put = await xcloud(home, ['put', src, remote])
        machine.push(`${fmt((await machineCpuSeconds() - cpu0) / g)} CPU-s/GiB, probe ${Math.round(speed)} MB/s`)
        const back = path.join(root, `back-${g}.bin`)
        const get = await xcloud(home, ['get', remote, back])
        same &&= (await sha256(back)) === want
        await rm(back)
        await xcloud(home, ['rm', remote])
        puts.push(mbps(size, put.seconds))
        gets.push(mbps(size, get.seconds))
        rss.push(`${fmt(put.peakRss / 1e6)}/${fmt(get.peakRss / 1e6)}`)
        putRss = Math.max(putRss, put.peakRss)
        getRss = Math.max(getRss, get.peakRss)
      }
      await rm(src)
      console.log(`| ${g} GiB | ${fmt(median(puts))} | ${fmt(putRss / 1e6)} | ${fmt(median(gets))} | ${fmt(getRss / 1e6)} | ${same ? 'yes' : 'NO'} |`)
      runs.push(`- ${g} GiB: put ${puts.map(fmt).join(' / ')}; get ${gets.map(fmt).join(' / ')} MB/s; peak RSS put/get ${rss.join(', ')} MB; machine during each put: ${machine.join('; ')}`)
    }
    console.log(`\nEach run, in order:\n${runs.join('\n')}`)
  } finally {
    await net.close()
  }
}

async function scaling(root: string, hosts: number, mirrors: number, sizeMiB: number): Promise<number> {
  const dir = path.join(root, `scale-${hosts}`)
  const net = await LocalNet.start({ dir, hosts, mirrors, host: () => ({ maxUploadRate: '16MB/s' }) })
  try {
    const home = await newAccount(net, dir, `scale${hosts}@example.com`)
    const src = path.join(root, `scale-${hosts}.bin`)
    const want = await makeFile(src, sizeMiB * MiB)
    await xcloud(home, ['put', src, '/scale.bin'])
    await rm(src)
    const back = path.join(root, `scale-back-${hosts}.bin`)
    const get = await xcloud(home, ['get', '/scale.bin', back])
    const same = (await sha256(back)) === want
    await rm(back)
    const rate = mbps(sizeMiB * MiB, get.seconds)
    console.log(`| ${hosts} | ${mirrors} | ${sizeMiB} MiB | ${fmt(rate)} | ${same ? 'yes' : 'NO'} |`)
    return rate
  } finally {
    await net.close()
  }
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(process.env.BENCH_DIR ?? tmpdir(), 'xcloud-bench-'))
  const sizes = (process.env.BENCH_SIZES ?? '1,4').split(',').map(Number)
  try {
    console.log(`# bench:transfer (${new Date().toISOString()}, node ${process.version})`)
    await part1(root, sizes)
    console.log('\n## get scaling, every host limited to 16 MB/s upload')
    console.log('| hosts | mirrors | file | get MB/s | identical |')
    console.log('|---|---|---|---|---|')
    const one = await scaling(root, 1, 1, Number(process.env.BENCH_SCALE_MIB_1 ?? 128))
    const eight = await scaling(root, 8, 3, Number(process.env.BENCH_SCALE_MIB_8 ?? 512))
    console.log(`\n8 hosts / 1 host get throughput: ${fmt(eight / one)}x (target >= 6x)`)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

await main()
