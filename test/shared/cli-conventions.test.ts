/**
 * What every command line shares: `--help` on every command and subcommand (exit 0, a usage
 * line), unknown options and bad values exit 2, runtime errors exit 1 with `error XC_…:`.
 * The command lists are read from each program's own help, so a new command is covered too.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { programArgv, type Program } from '../../src/shared/node-flags.js'

interface Run { code: number; stdout: string; stderr: string }
function run(program: Program, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, programArgv(program, args), { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

/** Subcommand names listed under "Commands:" in a help text (without `help`). */
function commandsOf(help: string): string[] {
  const section = help.split(/\nCommands:\n/)[1]
  if (!section) return []
  return section.split('\n').map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1]).filter((c): c is string => !!c && c !== 'help')
}

for (const program of ['xcloud', 'xcore', 'xbridge'] as const) {
  t.test(`${program}: --help on every command`, async (t) => {
    const queue: string[][] = [[]]
    let seen = 0
    while (queue.length > 0) {
      const cmd = queue.shift()!
      const res = await run(program, [...cmd, '--help'])
      t.equal(res.code, 0, `${program} ${cmd.join(' ')} --help exits 0`)
      t.match(res.stdout, new RegExp(`^Usage: ${program}${cmd.length ? ' ' + cmd.join(' ') : ''}`), 'with a usage line')
      for (const sub of commandsOf(res.stdout)) queue.push([...cmd, sub])
      seen++
    }
    t.ok(seen >= 4, `${seen} commands checked`)
  })

  t.test(`${program}: usage errors exit 2`, async (t) => {
    const res = await run(program, ['--no-such-option'])
    t.equal(res.code, 2, 'unknown option')
    t.match(res.stderr, /unknown option/)
    const cmd = await run(program, ['no-such-command'])
    t.equal(cmd.code, 2, 'unknown command')
  })
}

t.test('runtime errors exit 1 with a stable code', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'xcloud-conv-'))
  const res = await run('xcloud', ['--home', home, 'ls'])
  t.equal(res.code, 1)
  t.match(res.stderr, /^error XC_NOT_LOGGED_IN: /)
  const host = await run('xcore', ['status', '--data', path.join(home, 'nothing')])
  t.equal(host.code, 1)
  t.match(host.stderr, /^error XC_\w+: /)
  const bridge = await run('xbridge', ['admin', '--data', path.join(home, 'nothing'), 'stats'])
  t.equal(bridge.code, 1)
  t.match(bridge.stderr, /^error XC_CONFIG: /)
})

t.test('xcloud config: documented keys, file and flags, bad values', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'xcloud-conf-'))
  const env = { XCLOUD_HOME: home }
  const show = async () => JSON.parse((await run('xcloud', ['config', '--json'], env)).stdout) as { file: string; settings: Array<{ key: string; value: unknown; source: string; doc: string }> }
  let conf = await show()
  t.equal(conf.file, path.join(home, 'config.json'), '$XCLOUD_HOME picks the folder')
  t.same(conf.settings.map((s) => s.key), ['mountpoint', 'cacheShards', 'writeBackDelayMs', 'drainSeconds', 'logLevel', 'attrCache'])
  t.ok(conf.settings.every((s) => s.source === 'default' && s.doc.length > 10), 'every key documented, defaults in force')
  t.equal(conf.settings.find((s) => s.key === 'mountpoint')!.value, path.join(process.env.HOME ?? '', 'XCloud'), '~ expands')

  t.equal((await run('xcloud', ['config', 'set', 'cacheShards', '64'], env)).code, 0)
  t.equal((await run('xcloud', ['config', 'set', 'logLevel', 'debug'], env)).code, 0)
  conf = await show()
  t.same(conf.settings.filter((s) => s.source === 'file').map((s) => [s.key, s.value]), [['cacheShards', 64], ['logLevel', 'debug']], 'set writes the file')

  const bad = await run('xcloud', ['config', 'set', 'cacheShards', '3'], env)
  t.equal(bad.code, 2, 'out of range is a usage error')
  t.match(bad.stderr, /cacheShards must be a whole number from 4 to 4096/)
  t.equal((await run('xcloud', ['config', 'set', 'nosuch', '1'], env)).code, 2, 'unknown key')
  t.equal((await run('xcloud', ['config', 'unset', 'nosuch'], env)).code, 2, 'unset of an unknown key')
  t.equal((await run('xcloud', ['config', 'unset', 'cacheShards'], env)).code, 0)
  t.equal((await show()).settings.find((s) => s.key === 'cacheShards')!.source, 'default', 'unset brings the default back')

  // A broken file is named, with the key, and nothing runs on a guess.
  for (const [text, want] of [['{"cacheShards": "many"}', /cacheShards must be a whole number/], ['{"colour": 1}', /unknown key "colour"/], ['[1]', /must hold a JSON object/], ['{', /not valid JSON/]] as const) {
    writeFileSync(path.join(home, 'config.json'), text)
    const res = await run('xcloud', ['config'], env)
    t.equal(res.code, 1, `${text}: exit 1`)
    t.match(res.stderr, new RegExp(`^error XC_CONFIG: .*${want.source}`), `${text}: says what is wrong`)
  }
  writeFileSync(path.join(home, 'config.json'), '{"cacheShards": 2}')
  const mount = await run('xcloud', ['mount', path.join(home, 'mnt')], env)
  t.equal(mount.code, 1, 'the mount refuses a bad settings file before mounting')
  t.match(mount.stderr, /XC_CONFIG/)
  writeFileSync(path.join(home, 'config.json'), '{}')
  const flag = await run('xcloud', ['mount', path.join(home, 'mnt'), '--cache-shards', '5000'], env)
  t.equal(flag.code, 2, 'a bad flag value exits 2')
})

t.test('docs/config.md documents every xcloud setting', async (t) => {
  const { CONFIG_KEYS } = await import('../../src/client/session/config.js')
  const { readFileSync } = await import('node:fs')
  const doc = readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8')
  for (const key of Object.keys(CONFIG_KEYS)) t.match(doc, new RegExp(`\\| \`${key}\` \\|`), `${key} has a row`)
})
