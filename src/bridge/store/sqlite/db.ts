import Database from 'better-sqlite3'
import { xerr } from '../../../shared/errors.js'
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js'

export type Db = Database.Database

/**
 * Open (creating if needed) the bridge database: WAL so the admin CLI reads and writes while the
 * server runs, a busy timeout so the two wait for each other instead of failing, then migrate.
 */
export function openDatabase(file: string): Db {
  const db = new Database(file)
  db.pragma('busy_timeout = 5000')
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  // Temporary data in memory: above all statement journals (a statement's undo pages within a
  // transaction), which otherwise spill to a file past 64 KiB. Each spill created and deleted a
  // file in the system's temporary folder, about one per two files a mount uploaded: an inode
  // allocated and freed each time, at a cost to every program creating files on that disk.
  db.pragma('temp_store = MEMORY')
  try {
    migrate(db)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

function migrate(db: Db): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number
  for (;;) {
    const done = db.transaction((): boolean => {
      // Re-read under the write lock: another process (serve and admin) may have migrated first.
      const v = version()
      if (v > SCHEMA_VERSION) {
        throw xerr('XC_CONFIG', `database schema version ${v} is newer than this bridge (${SCHEMA_VERSION}); upgrade xbridge`)
      }
      if (v === SCHEMA_VERSION) return true
      db.exec(MIGRATIONS[v]!)
      db.pragma(`user_version = ${v + 1}`)
      return false
    }).immediate()
    if (done) return
  }
}
