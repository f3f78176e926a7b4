/**
 * Staging files of new nodes come from spares made ahead on libuv's threads: each new node gets
 * its own empty file at staging/<ino>, a file an earlier node left under the same number is
 * replaced, and spares never outlive the process that made them.
 */
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Staging } from '../../src/client/vfs/staging.js'

function tempDir(t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'xcloud-staging-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, 'staging')
}

/** Time for a batch of 32 spares to be made (each create takes well under a millisecond). */
const batchMade = (): Promise<void> => sleep(500)

t.test('new nodes get their own empty files, from spares once they are made', async (t) => {
  const dir = tempDir(t)
  const s = new Staging(dir)
  s.createEmpty(1) // the first create makes its own file and starts a batch of spares
  await batchMade()
  s.createEmpty(2)
  t.equal(s.spareCount, 31, 'the next one takes a spare from the batch made meanwhile')
  for (let ino = 3; ino <= 40; ino++) {
    s.createEmpty(ino)
    if (ino % 10 === 0) await batchMade()
  }
  for (let ino = 1; ino <= 40; ino++) {
    const fd = s.ref(ino)
    writeSync(fd, Buffer.from(`node ${ino}`), 0, undefined, 0)
    s.unref(ino)
  }
  for (let ino = 1; ino <= 40; ino++) t.equal(readFileSync(s.pathOf(ino), 'utf8'), `node ${ino}`, `node ${ino} has its own file`)
  t.ok(s.spareCount < 32, 'spares were used')
  s.close()
  t.notOk(existsSync(path.join(dir, '.spare')), 'closing removes the spares')
  t.ok(existsSync(s.pathOf(40)), 'and keeps the staged files')
})

t.test('a file an earlier node left under the same number is replaced by an empty one', async (t) => {
  const dir = tempDir(t)
  const s = new Staging(dir)
  s.createEmpty(1)
  await batchMade()
  writeFileSync(s.pathOf(7), 'left over')
  s.createEmpty(7)
  t.equal(s.spareCount, 31, 'from a spare')
  t.equal(readFileSync(s.pathOf(7), 'utf8'), '', 'empty')
  // A node whose file is open (a handle still holds it) is emptied in place.
  const fd = s.ref(7)
  writeSync(fd, Buffer.from('written'), 0, undefined, 0)
  s.createEmpty(7)
  t.equal(readFileSync(s.pathOf(7), 'utf8'), '', 'emptied through the open descriptor')
  s.unref(7)
  s.close()
})

t.test('spares a killed process left are removed at start; no spares without a disk to make them', async (t) => {
  const dir = tempDir(t)
  mkdirSync(path.join(dir, '.spare'), { recursive: true })
  writeFileSync(path.join(dir, '.spare', '3'), '')
  const s = new Staging(dir)
  t.same(readdirSync(path.join(dir, '.spare')), [], 'leftovers gone')
  // Spares cannot be made (their folder is gone): creates still work, the direct way.
  rmSync(path.join(dir, '.spare'), { recursive: true })
  s.createEmpty(1)
  await batchMade()
  s.createEmpty(2)
  t.equal(s.spareCount, 0, 'no spares')
  t.ok(existsSync(s.pathOf(1)) && existsSync(s.pathOf(2)), 'files are created without spares')
  s.close()
})
