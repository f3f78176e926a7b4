/**
 * `npm run bench:host`: what a host spends to receive shards, over plain HTTP/1.1 connections
 * (Node's HTTP server and the PUT route) and over shard-upload connections (the ALPN protocol
 * SHARD_PUT_ALPN, src/host/routes/shard-uploads.ts), side by side on one host process.
 *
 * A stand-in bridge mints the tokens; the bench PUTs distinct 2 MiB shards over 8 connections
 * (as a client does), alternating the two kinds of connection in rounds, and reads the host's
 * CPU time (user + system, /proc) around each round. Prints CPU-s per GiB received and MB/s per
 * round, and the ratio of the medians. BENCH_HOST_MIB sets a round's size (default 512).
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import https from 'node:https'
import { SHARD_PUT_ALPN, SHARD_SIZE } from '../src/shared/protocol.js'
import { startFakeBridge } from '../test/host/helpers/fake-bridge.js'
import { initHostDir, pinnedAgent, serveHost, type ServedHost } from '../test/host/helpers/host-process.js'

const MiB = 1024 * 1024
const ROUND_MIB = Number(process.env.BENCH_HOST_MIB ?? 512)
const ROUNDS = 3
const CONNECTIONS = 8

const teardowns: Array<() => unknown> = []
const scope = { teardown: (fn: () => unknown) => void teardowns.push(fn) }

/** user + system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

function put(host: ServedHost, agent: https.Agent, token: string, hash: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: host.port, method: 'PUT', path: `/shards/${hash}`, agent, headers: { authorization: `XC-Token ${token}`, 'content-length': body.length } },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** PUT `bytes` worth of fresh shards over `agent`'s connections; returns host CPU-s and wall seconds. */
async function round(host: ServedHost, bridge: Awaited<ReturnType<typeof startFakeBridge>>, agent: https.Agent, bytes: number): Promise<{ cpu: number; secs: number }> {
  const count = Math.ceil(bytes / SHARD_SIZE)
  let next = 0
  const zero = Buffer.alloc(SHARD_SIZE)
  const cpu0 = cpuSeconds(host.proc.pid!)
  const start = performance.now()
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < count) {
        next++
        // Random-looking bytes at memory speed; every shard new, so each one is written to disk.
        const body = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16)).update(zero)
        const hash = createHash('sha256').update(body).digest('hex')
        const status = await put(host, agent, bridge.token({ op: 'put', h: hash, host: host.hostId, size: body.length }), hash, body)
        if (status !== 201) throw new Error(`PUT answered ${status}`)
      }
    }),
  )
  return { cpu: cpuSeconds(host.proc.pid!) - cpu0, secs: (performance.now() - start) / 1000 }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

try {
  const bridge = await startFakeBridge()
  teardowns.push(() => bridge.close())
  const host = await serveHost(scope, await initHostDir(scope, bridge.url, ['--capacity', '1TB']))
  const kinds: Array<[string, https.Agent]> = [
    ['HTTP/1.1 (route)', pinnedAgent(host.certPem, host.fingerprint)],
    ['shard-upload connections', pinnedAgent(host.certPem, host.fingerprint, [SHARD_PUT_ALPN, 'http/1.1'])],
  ]
  for (const [, agent] of kinds) teardowns.push(() => agent.destroy())
  // Warm both paths (TLS sessions, JIT) before measuring.
  for (const [, agent] of kinds) await round(host, bridge, agent, 32 * MiB)

  console.log(`# bench:host (${new Date().toISOString()}, node ${process.version})`)
  console.log(`\nOne host receiving fresh 2 MiB shards over ${CONNECTIONS} connections; ${ROUND_MIB} MiB per round, rounds alternated.\n`)
  console.log('| round | connections | host CPU-s per GiB | MB/s |')
  console.log('|---|---|---|---|')
  const perGiB = new Map<string, number[]>()
  for (let r = 1; r <= ROUNDS; r++) {
    for (const [name, agent] of r % 2 ? kinds : [...kinds].reverse()) {
      const { cpu, secs } = await round(host, bridge, agent, ROUND_MIB * MiB)
      const gib = ROUND_MIB / 1024
      perGiB.set(name, [...(perGiB.get(name) ?? []), cpu / gib])
      console.log(`| ${r} | ${name} | ${(cpu / gib).toFixed(2)} | ${((ROUND_MIB * MiB) / 1e6 / secs).toFixed(1)} |`)
    }
  }
  const [plain, own] = kinds.map(([name]) => median(perGiB.get(name)!))
  console.log(`\nmedian host CPU per GiB: HTTP/1.1 ${plain!.toFixed(2)} s, shard-upload connections ${own!.toFixed(2)} s: ${(own! / plain!).toFixed(2)}x`)
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
