/**
 * The bridge's and the daemon's databases keep temporary data in memory. A statement journal that
 * outgrows SQLite's in-memory threshold otherwise becomes a file in the temporary folder, created
 * and deleted at once: during a mount's uploads, about one per two files.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, watch } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HELPER = fileURLToPath(new URL('./helpers/statement-journal.js', import.meta.url))

for (const kind of ['bridge', 'local'] as const) {
  t.test(`${kind}: a large statement journal makes no temporary file`, async (t) => {
    const dir = t.testdir()
    const tmp = path.join(dir, 'tmp')
    mkdirSync(tmp)
    const seen: string[] = []
    const watcher = watch(tmp, (_event, name) => { if (name) seen.push(name) })
    t.teardown(() => watcher.close())
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, [HELPER, kind, path.join(dir, 'db.sqlite')], { env: { ...process.env, SQLITE_TMPDIR: tmp } }, (err) => (err ? reject(err) : resolve()))
    })
    // inotify events reach the watcher through the event loop: let them arrive.
    await new Promise((r) => setTimeout(r, 100))
    t.same(seen, [], 'nothing was created in the temporary folder')
  })
}
