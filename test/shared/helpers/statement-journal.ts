/**
 * Opens a database the way the bridge (`bridge`) or the mount daemon (`local`) does, at argv[3],
 * and runs a transaction whose last statement keeps more undo pages than SQLite holds in memory
 * before spilling its statement journal to a file (64 KiB): an update of every row of a table
 * with a unique column, after other changes in the same transaction.
 */
import type Database from 'better-sqlite3'
import { openDatabase } from '../../../src/bridge/store/sqlite/db.js'
import { LocalState } from '../../../src/client/state/local-state.js'

const [kind, file] = process.argv.slice(2)
let db: Database.Database
let close: () => void
if (kind === 'bridge') {
  db = openDatabase(file!)
  close = () => db.close()
} else {
  const state = new LocalState(file!)
  db = state.db
  close = () => state.close()
}
db.exec('CREATE TABLE scratch (k INTEGER PRIMARY KEY, v TEXT UNIQUE)')
const insert = db.prepare('INSERT INTO scratch (v) VALUES (?)')
db.transaction(() => {
  for (let i = 0; i < 2000; i++) insert.run(`${'x'.repeat(200)}${i}`)
  db.prepare("UPDATE scratch SET v = v || 'y'").run()
})()
close()
