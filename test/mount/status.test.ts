/**
 * `xcloud status` beside a running daemon: a file closed a moment ago is pending at once, not
 * after the daemon's next status snapshot (status.json, written each second). The daemon is
 * stopped (SIGSTOP) right after the close, so its upload cannot start and no snapshot follows;
 * the file goes in from a child process (never from the test process).
 */
import t from 'tap'
import { newUser, startNetwork } from '../helpers/network.js'
import { mount, sh } from '../helpers/mount.js'

t.test('a file closed a moment ago is pending in `xcloud status` at once', async (t) => {
  const net = await startNetwork(t)
  const user = await newUser(t, net, 'status@example.com')
  const m = await mount(t, user)
  // Let the daemon's first pull and snapshots settle: nothing pending.
  await new Promise((r) => setTimeout(r, 1500))
  t.match(JSON.parse(await user.ok('status', '--json')), { pendingOps: 0, synced: true }, 'nothing pending before')

  await sh(`head -c 5000 /dev/urandom > '${m.dir}/fresh.bin'`)
  m.proc.kill('SIGSTOP')
  let status
  try {
    status = JSON.parse(await user.ok('status', '--json'))
  } finally {
    m.proc.kill('SIGCONT')
  }
  t.match(status, { running: true, synced: false }, 'not synced')
  t.ok(status.pendingUploads >= 1, `the upload is pending (${status.pendingUploads})`)
})
