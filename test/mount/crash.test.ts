/**
 * The daemon killed with SIGKILL at arbitrary moments while a program writes and closes files:
 * after a restart every file whose close() had returned is there with its content, and the
 * uploads the dead daemon had not finished complete (a fresh device sees the same files).
 */
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { loginDevice, newUser, startNetwork, workdir } from '../helpers/network.js'
import { mount, sh, until } from '../helpers/mount.js'

// Writes files of varied sizes into DIR until it fails; after each close() returns, appends
// "name sha256" to LOG (outside the mount) and fsyncs the log. It stops when DIR is no longer the
// mount it started on (a detached mount leaves a plain folder at that path) and after 1 GiB.
const writer = String.raw`
const fs = require('fs'), crypto = require('crypto'), path = require('path')
const [dir, log, prefix] = process.argv.slice(2)
const out = fs.openSync(log, 'a')
const dev = fs.statSync(dir).dev
for (let i = 0, total = 0; total < 2 ** 30; i++) {
  const size = [0, 1, 4096, 300000, 2500000, 5000000][i % 6]
  const data = crypto.randomBytes(size)
  const name = prefix + '-' + i + '.bin'
  total += size
  try {
    if (fs.statSync(dir).dev !== dev) process.exit(0)
    const fd = fs.openSync(path.join(dir, name), 'w')
    for (let off = 0; off < size; off += 131072) fs.writeSync(fd, data, off, Math.min(131072, size - off), off)
    fs.closeSync(fd)
  } catch { process.exit(0) }
  fs.writeSync(out, name + ' ' + crypto.createHash('sha256').update(data).digest('hex') + '\n'); fs.fsyncSync(out)
}
`

t.test('kill -9 at any moment loses no closed file', async (t) => {
  const net = await startNetwork(t, { hosts: 6 })
  const user = await newUser(t, net, 'crash@example.com')
  const logDir = workdir(t, 'logs')
  const log = path.join(logDir, 'closed.txt')
  const script = path.join(logDir, 'writer.cjs')
  writeFileSync(script, writer)
  let dir: string | undefined
  for (let round = 0; round < 5; round++) {
    const m = await mount(t, user, dir)
    dir = m.dir
    const child = sh(`exec node '${script}' '${m.dir}' '${log}' r${round}`, { allowFail: true })
    // Kill somewhere between 0.3 and 2.5 s into the writes: mid-write, mid-close, mid-upload.
    await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 2200)))
    // The writer fails on the dead mount (ENOTCONN) and exits before the mount is detached.
    await m.kill9(() => child)
  }
  const closed = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string])
  t.ok(closed.length >= 10, `${closed.length} files were closed across 5 kills`)
  const m = await mount(t, user, dir)
  const sums = async (root: string): Promise<Map<string, string>> => {
    const { stdout } = await sh(`cd '${root}' && sha256sum *.bin`)
    return new Map(stdout.trim().split('\n').map((l) => { const [h, n] = l.split(/\s+/); return [n!, h!] }))
  }
  const here = await sums(m.dir)
  const lost = closed.filter(([name, sum]) => here.get(name) !== sum)
  t.same(lost, [], 'every closed file is present with its content after the restart')
  await until(async () => /"pendingOps": 0/.test((await user.ok('status', '--json'))), 120_000, 'the resumed uploads to finish')
  await m.stop()
  const other = await loginDevice(t, net, 'crash@example.com')
  const m2 = await mount(t, other)
  const there = await sums(m2.dir)
  t.same(closed.filter(([name, sum]) => there.get(name) !== sum), [], 'and on a fresh device, once the uploads resumed')
})
