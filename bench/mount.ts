/**
 * `npm run bench:mount`: the drive against a plain local folder and against `rclone mount` of an
 * rclone crypt remote over a local folder (`--vfs-cache-mode writes`), side by side in one run.
 *
 * Workloads, each run by shell programs in child processes:
 * - sequential write of 1 GiB (dd bs=1M from a file already in the page cache, then close);
 * - sequential read of 1 GiB with a cold cache (the drive: a second device with an empty cache;
 *   rclone: a fresh mount with an empty cache; all: kernel caches dropped). A read lasts two or
 *   three seconds, and on this machine the CPU's speed drifts over minutes, so each target reads
 *   BENCH_COLD_READS times (5): once among its other workloads, then in rounds where the targets
 *   take turns back to back (the order flips each round). The figure is the median;
 * - untar of ~2,000 small files, then re-tar of them; BENCH_SMALL_RUNS times (3), the same way as
 *   the cold reads (once among the other workloads, then in rounds), the median counts;
 * - stat of 10,000 files (kernel caches dropped first);
 * - peak RSS of the daemon (VmHWM), xcloud's and rclone's.
 * Between workloads each mount is left to finish its background uploads, so one workload's upload
 * does not slow the next one's figure. Prints every figure and the ratio to rclone.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createCipheriv, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { LocalNet } from '../src/localnet/localnet.js'
import { programArgv } from '../src/shared/node-flags.js'
import { median } from './median.js'

const execFileP = promisify(execFile)
const MiB = 1024 * 1024
const GiB = 1024 * MiB
const PASSWORD = 'bench-password'
const SEQ_BYTES = Number(process.env.BENCH_SEQ_MIB ?? 1024) * MiB
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 2000)
const STAT_FILES = Number(process.env.BENCH_STAT_FILES ?? 10_000)
const COLD_READS = Math.max(1, Number(process.env.BENCH_COLD_READS ?? 5))
const SMALL_RUNS = Math.max(1, Number(process.env.BENCH_SMALL_RUNS ?? 3))

async function sh(cmd: string, cwd?: string): Promise<string> {
  const { stdout } = await execFileP('sh', ['-c', cmd], { cwd, maxBuffer: 256 * MiB })
  return stdout
}

async function timed(cmd: string, cwd?: string): Promise<number> {
  const start = process.hrtime.bigint()
  await sh(cmd, cwd)
  return Number(process.hrtime.bigint() - start) / 1e9
}

async function dropCaches(): Promise<void> {
  await sh('sync; echo 3 > /proc/sys/vm/drop_caches').catch(() => {})
}

function peakRss(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

interface Target {
  name: string
  dir: string
  /** Wait until background uploads are done. */
  settle(): Promise<void>
  /**
   * A view of the same data with every cache empty (kernel, daemon). `next` is the target the
   * later workloads use: the same one for the drive (the cold view is a second device) and for the
   * local folder; for rclone, whose cold view is a fresh mount replacing the first, that mount.
   */
  cold(): Promise<{ view: Target; next: Target }>
  rss(): number
  /** A FUSE mount (checked to be mounted before each workload), or a plain folder. */
  fuse: boolean
  stop(): Promise<void>
}

/** Every workload must run through the mount it names, never the folder under a stopped one. */
function assertMounted(t: Target): void {
  if (t.fuse && !readFileSync('/proc/mounts', 'utf8').includes(` ${t.dir} `)) throw new Error(`${t.name}: ${t.dir} is not mounted`)
}

function waitLine(proc: ChildProcess, match: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = ''
    proc.stderr?.on('data', (d) => { err += d })
    const lines = createInterface({ input: proc.stdout! })
    lines.on('line', (l) => { if (match.test(l)) resolve() })
    proc.once('exit', (code) => reject(new Error(`${what} exited ${code}: ${err.slice(-2000)}`)))
  })
}

async function xcloud(home: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP(process.execPath, programArgv('xcloud', ['--home', home, ...args]), { env: { ...process.env, XCLOUD_PASSWORD: PASSWORD } })
  return stdout
}

async function xcloudTarget(root: string, net: LocalNet, home: string, name: string): Promise<Target> {
  const dir = path.join(root, `mnt-${path.basename(home)}`)
  mkdirSync(dir, { recursive: true })
  const proc = spawn(process.execPath, programArgv('xcloud', ['--home', home, 'mount', dir, '--drain', '600', '--stop-with-parent', String(process.pid)]), { stdio: ['ignore', 'pipe', 'pipe'] })
  await waitLine(proc, /^mounted /, 'xcloud mount')
  let peak = 0
  const sampler = setInterval(() => { peak = Math.max(peak, peakRss(proc.pid)) }, 200)
  const target: Target = {
    name,
    dir,
    async settle() {
      for (;;) {
        const st = JSON.parse(await xcloud(home, ['status', '--json'])) as { pendingOps: number }
        if (st.pendingOps === 0) return
        await new Promise((r) => setTimeout(r, 500))
      }
    },
    async cold() {
      const other = path.join(root, `home-cold-${Date.now()}`)
      await xcloud(other, ['login', '--bridge', net.bridgeUrl, '--email', 'bench@example.com'])
      await dropCaches()
      return { view: await xcloudTarget(root, net, other, `${name} (cold device)`), next: target }
    },
    rss: () => Math.max(peak, peakRss(proc.pid)),
    fuse: true,
    async stop() {
      clearInterval(sampler)
      if (proc.exitCode !== null) return
      proc.kill('SIGTERM')
      await new Promise((r) => proc.once('exit', r))
    },
  }
  return target
}

function localTarget(dir: string): Target {
  mkdirSync(dir, { recursive: true })
  const t: Target = {
    name: 'local folder',
    dir,
    settle: async () => { await sh('sync') },
    cold: async () => { await dropCaches(); return { view: t, next: t } },
    rss: () => 0,
    fuse: false,
    stop: async () => {},
  }
  return t
}

async function rcloneTarget(root: string, store: string, label = 'rclone crypt'): Promise<Target> {
  const conf = path.join(root, 'rclone.conf')
  const obscured = (await sh(`rclone obscure '${PASSWORD}'`)).trim()
  writeFileSync(conf, `[store]\ntype = local\n\n[secret]\ntype = crypt\nremote = store:${store}\npassword = ${obscured}\n`)
  const dir = path.join(root, `rclone-mnt-${Date.now()}`)
  const cache = path.join(root, `rclone-cache-${Date.now()}`)
  mkdirSync(dir, { recursive: true })
  mkdirSync(store, { recursive: true })
  const proc = spawn('rclone', ['--config', conf, 'mount', 'secret:', dir, '--vfs-cache-mode', 'writes', '--cache-dir', cache], { stdio: ['ignore', 'pipe', 'pipe'] })
  // rclone mount prints nothing when ready: wait for the mount to appear.
  for (let i = 0; ; i++) {
    if (readFileSync('/proc/mounts', 'utf8').includes(` ${dir} `)) break
    if (i > 200 || proc.exitCode !== null) throw new Error('rclone mount did not come up')
    await new Promise((r) => setTimeout(r, 50))
  }
  let peak = 0
  const sampler = setInterval(() => { peak = Math.max(peak, peakRss(proc.pid)) }, 200)
  const target: Target = {
    name: label,
    dir,
    async settle() {
      // Writes mode uploads a closed file 5 s after its close (--vfs-write-back); rclone offers no
      // status command for a plain mount, so wait past that and until the store stops growing.
      const start = Date.now()
      let last = -1
      for (;;) {
        await new Promise((r) => setTimeout(r, 1000))
        const size = Number((await sh(`du -sb '${store}' | cut -f1`)).trim())
        if (size === last && Date.now() - start > 7000) break
        last = size
      }
      await sh('sync')
    },
    async cold() {
      await target.stop()
      await dropCaches()
      const fresh = await rcloneTarget(root, store, label)
      return { view: fresh, next: fresh }
    },
    rss: () => Math.max(peak, peakRss(proc.pid)),
    fuse: true,
    async stop() {
      clearInterval(sampler)
      await sh(`fusermount -u '${dir}'`).catch(() => sh(`fusermount -uz '${dir}'`).catch(() => {}))
      if (proc.exitCode === null) await new Promise((r) => proc.once('exit', r))
    },
  }
  return target
}

async function makeSource(file: string, size: number): Promise<void> {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16))
  const zero = Buffer.alloc(8 * MiB)
  const chunks: Buffer[] = []
  for (let off = 0; off < size; off += zero.length) chunks.push(cipher.update(zero.subarray(0, Math.min(zero.length, size - off))))
  writeFileSync(file, Buffer.concat(chunks))
}

async function makeTarball(root: string): Promise<string> {
  const src = path.join(root, 'small-src')
  for (let i = 0; i < SMALL_FILES; i++) {
    const dir = path.join(src, `d${i % 40}`, `e${i % 7}`)
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, `f${i}.txt`), randomBytes(100 + ((i * 7919) % 16000)))
  }
  const tarball = path.join(root, 'small.tar')
  await sh(`tar cf '${tarball}' -C '${src}' .`)
  await rm(src, { recursive: true })
  return tarball
}

/** One target's figures: every run of the repeated workloads (the table shows their medians). */
interface Row { write: number; reads: number[]; untars: number[]; retars: number[]; stat: number; rss: number }

/** One cold sequential read of `seq.bin` through `t`; `next` is the target to go on with. */
async function coldRead(t: Target): Promise<{ mbps: number; rss: number; next: Target }> {
  const { view, next } = await t.cold()
  assertMounted(view)
  const r = await timed(`dd if='${view.dir}/seq.bin' of=/dev/null bs=1M status=none`)
  const rss = view.rss()
  if (view !== next) await view.stop()
  return { mbps: SEQ_BYTES / 1e6 / r, rss, next }
}

/** Untar the small files into `dir` on `t`, then tar them to /dev/null: files per second of each. */
async function untarRetar(t: Target, tarball: string, dir: string): Promise<{ untar: number; retar: number }> {
  assertMounted(t)
  const untar = await timed(`mkdir ${dir} && tar xf '${tarball}' -C ${dir}`, t.dir)
  await t.settle()
  assertMounted(t)
  const retar = await timed(`tar cf /dev/null ${dir}`, t.dir)
  return { untar: SMALL_FILES / untar, retar: SMALL_FILES / retar }
}

/**
 * Rounds 2..`count` of a repeated workload: in each, every target in turn, back to back, the order
 * flipping from one round to the next (round 1 ran among each target's other workloads).
 */
async function rounds<T>(count: number, targets: readonly T[], run: (t: T, round: number) => Promise<void>): Promise<void> {
  for (let round = 2; round <= count; round++) {
    for (const t of round % 2 === 0 ? targets : [...targets].reverse()) await run(t, round)
  }
}

async function runWorkloads(first: Target, source: string, tarball: string): Promise<{ row: Row; last: Target }> {
  let t = first
  console.error(`[bench] ${t.name}: sequential write`)
  await sh(`cat '${source}' > /dev/null`)
  assertMounted(t)
  const w = await timed(`dd if='${source}' of='${t.dir}/seq.bin' bs=1M status=none`)
  await t.settle()
  console.error(`[bench] ${t.name}: cold sequential read`)
  const firstRss = t.rss()
  const cold = await coldRead(t)
  t = cold.next
  console.error(`[bench] ${t.name}: untar / re-tar`)
  const small = await untarRetar(t, tarball, 'small')
  console.error(`[bench] ${t.name}: stat`)
  await sh(`mkdir statdir && cd statdir && seq 1 ${STAT_FILES} | sed 's/^/f/' | xargs touch`, t.dir)
  await t.settle()
  await dropCaches()
  assertMounted(t)
  const st = await timed(`find statdir -type f -print0 | xargs -0 stat -c %s > /dev/null`, t.dir)
  const row = { write: SEQ_BYTES / 1e6 / w, reads: [cold.mbps], untars: [small.untar], retars: [small.retar], stat: STAT_FILES / st, rss: Math.max(firstRss, t.rss(), cold.rss) }
  return { row, last: t }
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(process.env.BENCH_DIR ?? tmpdir(), 'xcloud-bench-mount-'))
  const stops: Array<() => Promise<void>> = []
  try {
    console.log(`# bench:mount (${new Date().toISOString()}, node ${process.version}, ${(await sh('rclone version | head -1')).trim()})`)
    const source = path.join(root, 'seq-source.bin')
    await makeSource(source, SEQ_BYTES)
    const tarball = await makeTarball(root)

    const net = await LocalNet.start({ dir: path.join(root, 'net'), hosts: 6, mirrors: 3 })
    stops.push(() => net.close())
    const home = path.join(root, 'home-main')
    await xcloud(home, ['register', '--bridge', net.bridgeUrl, '--email', 'bench@example.com', '--kdf-n', '1024'])
    const drive = await xcloudTarget(root, net, home, 'xcloud mount')
    stops.push(() => drive.stop())
    const rclone = await rcloneTarget(root, path.join(root, 'rclone-store'))
    let rcloneLast = rclone
    stops.push(() => rclone.stop(), () => rcloneLast.stop())
    const local = localTarget(path.join(root, 'local'))

    const rows = new Map<string, Row>()
    for (const t of [local, rclone, drive]) {
      const { row, last } = await runWorkloads(t, source, tarball)
      rows.set(t.name, row)
      if (t === rclone) rcloneLast = last
    }
    // More cold reads, then more untars and re-tars (each into a folder of its own), the targets
    // taking turns back to back (see the overview).
    const current = new Map<string, Target>([[local.name, local], [rclone.name, rcloneLast], [drive.name, drive]])
    const targets = [drive, rclone, local]
    await rounds(COLD_READS, targets, async (first, round) => {
      console.error(`[bench] ${first.name}: cold sequential read ${round} of ${COLD_READS}`)
      const row = rows.get(first.name)!
      const { mbps, rss, next } = await coldRead(current.get(first.name)!)
      current.set(first.name, next)
      if (first === rclone) rcloneLast = next
      row.reads.push(mbps)
      row.rss = Math.max(row.rss, rss, next.rss())
    })
    await rounds(SMALL_RUNS, targets, async (first, round) => {
      console.error(`[bench] ${first.name}: untar / re-tar ${round} of ${SMALL_RUNS}`)
      const t = current.get(first.name)!
      const row = rows.get(first.name)!
      const { untar, retar } = await untarRetar(t, tarball, `small-${round}`)
      row.untars.push(untar)
      row.retars.push(retar)
      row.rss = Math.max(row.rss, t.rss())
    })
    const medians = new Map([...rows].map(([name, r]) => [name, { ...r, read: median(r.reads), untar: median(r.untars), retar: median(r.retars) }]))
    const rc = medians.get(rclone.name)!
    const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1))
    const ratio = (a: number, b: number, lowerIsBetter = false): string => (b > 0 ? `${(lowerIsBetter ? b / a : a / b).toFixed(2)}x` : '-')
    console.log('\n| target | seq write MB/s | cold seq read MB/s | untar files/s | re-tar files/s | stat files/s | daemon peak RSS MB |')
    console.log('|---|---|---|---|---|---|---|')
    for (const [name, r] of medians) {
      console.log(`| ${name} | ${fmt(r.write)} | ${fmt(r.read)} | ${fmt(r.untar)} | ${fmt(r.retar)} | ${fmt(r.stat)} | ${r.rss ? fmt(r.rss / 1e6) : '-'} |`)
    }
    const x = medians.get(drive.name)!
    console.log(`| xcloud / rclone | ${ratio(x.write, rc.write)} | ${ratio(x.read, rc.read)} | ${ratio(x.untar, rc.untar)} | ${ratio(x.retar, rc.retar)} | ${ratio(x.stat, rc.stat)} | ${ratio(x.rss, rc.rss, true)} (lower RSS is better) |`)
    console.log(`\nEvery run (the table has each target's median):`)
    for (const [name, r] of rows) {
      console.log(`- ${name}: cold read ${r.reads.map(fmt).join(' / ')} MB/s; untar ${r.untars.map(fmt).join(' / ')}, re-tar ${r.retars.map(fmt).join(' / ')} files/s`)
    }
    console.log(`\nTargets: faster than rclone on every workload; seq write >= 400 MB/s; cold seq read >= 250 MB/s; stat >= 10,000/s; daemon RSS <= 250 MB.`)
    console.log(`${SEQ_BYTES / GiB} GiB sequential, ${SMALL_FILES} small files, ${STAT_FILES} stats.`)
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
    await rm(root, { recursive: true, force: true }).catch(() => {})
  }
}

await main()
