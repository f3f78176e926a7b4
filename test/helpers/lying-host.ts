/**
 * A host that cheats: it took the place of a real host (same keys, certificate and port), keeps
 * heartbeating, but holds none of the data. It answers audits from the shard *hash* alone —
 * SHA-256(salt ‖ hash) — as a host that kept only hashes would, and refuses everything else.
 */
import https from 'node:https'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { signedPost } from '../../src/host/bridge/client.js'
import { hostIdOf, privateKeyObject } from '../../src/shared/tokens.js'

export interface LyingHost {
  audits: number
  close(): Promise<void>
}

export async function startLyingHost(hostDir: string, url: string, heartbeatMs: number): Promise<LyingHost> {
  const config = JSON.parse(await readFile(path.join(hostDir, 'config.json'), 'utf8')) as { bridge: string; publicKey: string; privateKey: string; capacity: number }
  const [key, cert] = await Promise.all([readFile(path.join(hostDir, 'tls', 'key.pem')), readFile(path.join(hostDir, 'tls', 'cert.pem'))])
  const state = { audits: 0 }
  const server = https.createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (req.method !== 'POST' || req.url !== '/orders') return reply(503, { error: { code: 'XC_UNAVAILABLE', message: 'no data here' } })
      try {
        const wire = (JSON.parse(Buffer.concat(chunks).toString()) as { order: string }).order
        const claims = JSON.parse(Buffer.from(wire.split('.')[0]!, 'base64url').toString()) as { kind: string; hash: string; salt: string; topUp: string[] }
        if (claims.kind !== 'audit') return reply(503, { error: { code: 'XC_UNAVAILABLE', message: 'no data here' } })
        state.audits++
        const fake = (salt: string) => createHash('sha256').update(Buffer.from(salt, 'base64url')).update(Buffer.from(claims.hash, 'hex')).digest('hex')
        return reply(200, { digest: fake(claims.salt), topUp: claims.topUp.map(fake) })
      } catch {
        return reply(400, { error: { code: 'XC_BAD_REQUEST', message: 'bad order' } })
      }
    })
  })
  const port = Number(new URL(url).port)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const signer = { hostId: hostIdOf(config.publicKey), privateKey: privateKeyObject(config.privateKey) }
  const started = Date.now()
  const beat = setInterval(() => {
    signedPost(config.bridge, '/v1/hosts/heartbeat', { capacity: config.capacity, used: 0, shards: 0, bytesIn: 0, bytesOut: 0, uptimeMs: Date.now() - started }, signer)
      .catch(() => { /* the bridge may be closing */ })
  }, heartbeatMs)
  return {
    get audits() { return state.audits },
    close: () => {
      clearInterval(beat)
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
