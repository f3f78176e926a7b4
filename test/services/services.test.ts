/**
 * The service files people install (systemd/, launchd/, docs/services.md), checked against what
 * reads them:
 * - `systemd-analyze verify` on every unit, failing on anything it prints about our files (it
 *   exits 0 on unknown directives and bad values, so its output is what counts); broken copies
 *   (a misspelt directive, bad values, a broken section header, a missing program) prove that a
 *   problem is heard;
 * - the hardening the system units promise, systemd's exposure score for them, and what the user
 *   unit must not set;
 * - every plist through a strict XML plist reader (test/helpers/plist.ts), malformed copies too;
 * - every command line a unit, a plist or docs/services.md runs, against the real CLIs' --help.
 *
 * The units start /usr/local/bin/x…, which does not exist on a test machine: verify gets copies
 * whose only change is that prefix, pointing at shims that run this checkout's programs.
 */
import { execFile } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { programArgv, type Program } from '../../src/shared/node-flags.js'
import { parsePlist, type PlistDict } from '../helpers/plist.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = '/usr/local/bin/'
const SYSTEM_UNITS = ['xcore.service', 'xbridge.service'] as const
const USER_UNIT = 'xcloud.service'
const UNITS = [...SYSTEM_UNITS, USER_UNIT] as const
const PLISTS = ['com.xcloud.xcore.plist', 'com.xcloud.xbridge.plist', 'com.xcloud.xcloud.plist'] as const
const DAEMONS: Record<string, Program> = { 'com.xcloud.xcore.plist': 'xcore', 'com.xcloud.xbridge.plist': 'xbridge' }

const readRepo = (...p: string[]): string => readFileSync(path.join(ROOT, ...p), 'utf8')

interface Run { code: number; stdout: string; output: string; missing: boolean }
function run(cmd: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      resolve({ code, stdout, output: stdout + stderr, missing: (err as NodeJS.ErrnoException | null)?.code === 'ENOENT' })
    })
  })
}

const NO_SYSTEMD = (await run('systemd-analyze', ['--version'])).missing
  ? 'systemd-analyze is not installed (Debian: apt-get install systemd); unit files not verified'
  : false

// ---------------------------------------------------------------------------------------------
// Unit files: a small reader, enough for our own files (no line continuations, no quoting).

type Unit = Map<string, Array<[string, string]>>

function parseUnit(text: string): Unit {
  const unit: Unit = new Map()
  let section: Array<[string, string]> | undefined
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[([A-Za-z]+)\]$/.exec(line)
    if (header) {
      unit.set(header[1]!, (section = []))
      continue
    }
    const eq = line.indexOf('=')
    if (!section || eq < 0) throw new Error(`not a unit line: ${line}`)
    section.push([line.slice(0, eq), line.slice(eq + 1)])
  }
  return unit
}

const values = (unit: Unit, section: string, key: string): string[] =>
  (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v)
const value = (unit: Unit, section: string, key: string): string | undefined => values(unit, section, key).at(-1)

/** A time span as systemd writes them here ("90s", "5min", "1min 30s"), in seconds. */
function seconds(span: string): number {
  const unitSeconds: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 }
  let total = 0
  for (const part of span.trim().split(/\s+/)) {
    const m = /^(\d+)([a-z]*)$/.exec(part)
    if (!m || unitSeconds[m[2] || 's'] === undefined) throw new Error(`not a time span: ${span}`)
    total += Number(m[1]) * unitSeconds[m[2] || 's']!
  }
  return total
}

/**
 * ExecStart's words with the unit's environment applied as systemd does: `${VAR}` is one word,
 * a lone `$VAR` splits into words (none when empty); %h is the home of a user unit's user.
 */
function execStart(unit: Unit, env: Record<string, string>): string[] {
  const line = value(unit, 'Service', 'ExecStart')!.replace(/%h/g, '/home/someone')
  return line.split(/\s+/).flatMap((w) => {
    const lone = /^\$([A-Za-z_]\w*)$/.exec(w)
    if (lone) return (env[lone[1]!] ?? '').split(/\s+/).filter(Boolean)
    return [w.replace(/\$\{([A-Za-z_]\w*)\}/g, (_, k: string) => env[k] ?? '')]
  })
}

function environment(unit: Unit): Record<string, string> {
  const env: Record<string, string> = {}
  for (const v of values(unit, 'Service', 'Environment')) {
    const eq = v.indexOf('=')
    env[v.slice(0, eq)] = v.slice(eq + 1)
  }
  return env
}

// ---------------------------------------------------------------------------------------------
// Command lines against the real CLIs: commands must exist, flags must be ones they list.

const helps = new Map<string, Promise<string>>()
function help(program: Program, cmd: readonly string[]): Promise<string> {
  const key = [program, ...cmd].join(' ')
  let text = helps.get(key)
  if (!text) {
    text = run(process.execPath, programArgv(program, [...cmd, '--help'])).then((r) => {
      if (r.code !== 0) throw new Error(`${key} --help exited ${r.code}: ${r.output}`)
      return r.stdout
    })
    helps.set(key, text)
  }
  return text
}

/** Subcommand names listed under "Commands:" in a help text. */
function commandsOf(text: string): string[] {
  const section = text.split(/\nCommands:\n/)[1] ?? ''
  return section.split('\n').map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1]).filter((c): c is string => !!c && c !== 'help')
}

/** Options listed under "Options:", each with whether it takes a value. */
function optionsOf(text: string): Map<string, boolean> {
  const options = new Map<string, boolean>()
  const section = (text.split(/\nOptions:\n/)[1] ?? '').split(/\n\S/)[0]!
  for (const line of section.split('\n')) {
    const m = /^ {2}(?:(-[a-zA-Z]), )?(--[a-z][a-z-]*)( [<[])?/.exec(line)
    if (!m) continue
    options.set(m[2]!, m[3] !== undefined)
    if (m[1]) options.set(m[1], m[3] !== undefined)
  }
  return options
}

/** What is wrong with one command line (argv[0] ends in the program's name), as messages. */
async function commandProblems(argv: readonly string[]): Promise<string[]> {
  const program = path.basename(argv[0]!) as Program
  const cmd: string[] = []
  const chain = [await help(program, [])]
  const problems: string[] = []
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i]!
    const where = [program, ...cmd].join(' ')
    if (word.startsWith('-')) {
      const flag = word.split('=')[0]!
      const takesValue = chain.map(optionsOf).find((o) => o.has(flag))?.get(flag)
      if (takesValue === undefined) problems.push(`\`${where}\` has no option ${flag}`)
      else if (takesValue && !word.includes('=')) i++
    } else if (commandsOf(chain.at(-1)!).includes(word)) {
      cmd.push(word)
      chain.push(await help(program, cmd))
    } else if (cmd.length === 0) {
      problems.push(`\`${program}\` has no command ${word}`)
    }
  }
  if (cmd.length === 0) problems.push(`\`${argv.join(' ')}\` names no command`)
  return problems
}

/**
 * Invocations of our programs in shell text: `xcore serve …`, `sudo -u xcore xcore init …`,
 * `/usr/local/bin/xcloud mount …` (a path only from a bin/ folder: `--data /var/lib/xcore x` is
 * not an invocation), up to the end of the command (`&&`, `|`, `;`, a redirection or
 * a comment), on one line. Quotes are dropped; `xcore` followed by anything but a lowercase word (a flag, the
 * end of the line) is a user name or a unit name, not an invocation.
 */
const PROGRAMS: readonly string[] = ['xcore', 'xbridge', 'xcloud']

function invocations(shell: string): string[][] {
  const found: string[][] = []
  const re = /(?<=^|[\s=]|\/bin\/)(xcore|xbridge|xcloud)[ \t]+(?=[a-z])/g
  for (const m of shell.matchAll(re)) {
    const words = shell.slice(m.index! + m[0].length).split(/[ \t]+/)
    const argv = [m[1]!]
    for (const raw of words) {
      if (/^(&&|\|\|?|;|#)/.test(raw) || /^\d?>|^</.test(raw)) break
      argv.push(raw.replace(/;$/, '').replace(/^["']|["']$/g, ''))
    }
    // `sudo -u xcore xcore init`: the first `xcore` is a user; the next match is the command.
    if (/^[a-z][a-z-]*$/.test(argv[1] ?? '') && !PROGRAMS.includes(argv[1]!)) found.push(argv.filter(Boolean))
  }
  return found
}

/** Shell lines in a markdown file's fenced code blocks, with `\` continuations joined. */
function codeLines(md: string): string[] {
  const blocks = [...md.matchAll(/^```[a-z]*\n([\s\S]*?)^```/gm)].map((m) => m[1]!)
  return blocks.flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n'))
}

// ---------------------------------------------------------------------------------------------
// systemd-analyze verify on copies that run this checkout's programs.

interface Verifier {
  /** Write `text` as `dir/name` with /usr/local/bin/ pointing at the shims; returns its path. */
  copy(name: string, text: string, dir?: string): string
  /** Lines systemd-analyze printed about the file (plus its exit status when not 0). */
  verify(file: string, mode: 'system' | 'user'): Promise<string[]>
  shims: string
}

function verifier(t: Test): Verifier {
  const tmp = mkdtempSync(path.join(tmpdir(), 'xcloud-services-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const shims = path.join(tmp, 'bin') + '/'
  const runtime = path.join(tmp, 'runtime')
  mkdirSync(shims)
  mkdirSync(runtime, { mode: 0o700 })
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
  for (const program of ['xcore', 'xbridge', 'xcloud'] as const) {
    const file = path.join(shims, program)
    writeFileSync(file, `#!/bin/sh\nexec ${[process.execPath, ...programArgv(program, [])].map(quote).join(' ')} "$@"\n`)
    chmodSync(file, 0o755)
  }
  return {
    shims,
    copy(name, text, dir = 'units') {
      mkdirSync(path.join(tmp, dir), { recursive: true })
      const file = path.join(tmp, dir, name)
      writeFileSync(file, text.split(BIN).join(shims))
      return file
    },
    async verify(file, mode) {
      // The user manager wants a runtime directory; as root (CI) there is none, so lend it one.
      const args = mode === 'user' ? ['--user', 'verify', '--man=no', file] : ['verify', '--man=no', file]
      const r = await run('systemd-analyze', args, { XDG_RUNTIME_DIR: runtime })
      const lines = r.output.split('\n').filter((l) => l.includes(path.basename(file)))
      if (r.code !== 0 && lines.length === 0) lines.push(`exit ${r.code}: ${r.output.trim()}`)
      return lines
    },
  }
}

t.test('systemd-analyze verify: every unit is clean, and a broken copy is not', { skip: NO_SYSTEMD }, async (t) => {
  const v = verifier(t)
  let userMode: 'system' | 'user' = 'user'
  const probe = await v.verify(v.copy(USER_UNIT, readRepo('systemd', USER_UNIT)), 'user')
  if (probe.some((l) => /Failed to initialize manager/.test(l))) {
    t.comment(`the user manager cannot start here (${probe.join('; ')}): verifying ${USER_UNIT} with the system manager`)
    userMode = 'system'
  }
  const modeOf = (name: string): 'system' | 'user' => (name === USER_UNIT ? userMode : 'system')

  for (const name of UNITS) {
    const text = readRepo('systemd', name)
    t.match(value(parseUnit(text), 'Service', 'ExecStart'), new RegExp(`^${BIN}${name.replace('.service', '')} `), `${name} runs ${BIN}${name.replace('.service', '')}`)
    t.same(await v.verify(v.copy(name, text), modeOf(name)), [], `${name}: verify prints nothing about it`)
  }

  // Each breakage must be heard, in every unit and in both managers' modes.
  const breakages: Array<[string, RegExp, string]> = [
    ['a misspelt directive', /^Restart=/m, 'Restrat='],
    ['a bad enum value', /^Restart=.*$/m, 'Restart=sometimes'],
    ['a bad time span', /^TimeoutStopSec=.*$/m, 'TimeoutStopSec=soon'],
    ['a broken section header', /^\[Service\]$/m, '[Service'],
    ['a missing program', /^ExecStart=\S+/m, `ExecStart=${v.shims}no-such-program`],
  ]
  for (const name of UNITS) {
    const text = readRepo('systemd', name)
    for (const [what, re, replacement] of breakages) {
      const broken = text.replace(re, replacement)
      t.not(broken, text, `${name}: ${what} applied`)
      const problems = await v.verify(v.copy(name, broken, `broken-${what.replace(/\W+/g, '-')}`), modeOf(name))
      t.ok(problems.length > 0, `${name} with ${what}: ${problems[0] ?? 'NOT REPORTED'}`)
    }
  }
})

t.test('system units: hardened as promised, and systemd rates them OK', async (t) => {
  for (const name of SYSTEM_UNITS) {
    const text = readRepo('systemd', name)
    const unit = parseUnit(text)
    const program = name.replace('.service', '')
    const expected: Array<[string, string, string]> = [
      ['Unit', 'After', 'network-online.target'], ['Unit', 'Wants', 'network-online.target'],
      ['Service', 'User', program], ['Service', 'StateDirectory', program], ['Service', 'UMask', '0077'],
      ['Service', 'ProtectSystem', 'strict'], ['Service', 'ProtectHome', 'yes'], ['Service', 'PrivateTmp', 'yes'],
      ['Service', 'PrivateDevices', 'yes'], ['Service', 'NoNewPrivileges', 'yes'], ['Service', 'CapabilityBoundingSet', ''],
      ['Service', 'ProtectKernelTunables', 'yes'], ['Service', 'ProtectKernelModules', 'yes'], ['Service', 'ProtectKernelLogs', 'yes'],
      ['Service', 'ProtectControlGroups', 'yes'], ['Service', 'RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
      ['Service', 'RestrictNamespaces', 'yes'], ['Service', 'LockPersonality', 'yes'],
      ['Service', 'Restart', 'on-failure'], ['Service', 'KillSignal', 'SIGTERM'], ['Install', 'WantedBy', 'multi-user.target'],
    ]
    for (const [section, key, want] of expected) t.equal(value(unit, section, key), want, `${name}: ${key}=${want}`)
    t.ok(values(unit, 'Service', 'SystemCallFilter').some((v) => v.split(/\s+/).includes('@system-service')), `${name}: SystemCallFilter=@system-service`)
    for (const [section, key] of [['Service', 'RestartSec'], ['Service', 'TimeoutStopSec'], ['Unit', 'StartLimitIntervalSec'], ['Unit', 'StartLimitBurst']] as const) {
      t.ok(value(unit, section, key), `${name}: ${key} set`)
    }
    t.equal(value(unit, 'Service', 'MemoryDenyWriteExecute'), undefined, `${name}: MemoryDenyWriteExecute unset (V8's JIT)`)
    t.match(text, /^#[^\n]*MemoryDenyWriteExecute=[^\n]*(\n#[^\n]*)?JIT/m, `${name}: a comment says why`)
    t.equal(value(unit, 'Service', 'DynamicUser'), undefined, `${name}: a static user`)
    t.match(text, new RegExp(`useradd --system .*\\n.* ${program}\\b`), `${name}: names its useradd step`)
  }
  const bridge = parseUnit(readRepo('systemd', 'xbridge.service'))
  t.equal(value(bridge, 'Service', 'EnvironmentFile'), '-/etc/xcloud/xbridge.env', 'the bridge reads an optional environment file')

  if (NO_SYSTEMD) return
  const v = verifier(t)
  for (const name of SYSTEM_UNITS) {
    // --threshold is ten times the exposure level: 2.0 and below is systemd's "OK".
    const r = await run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', '--no-pager', v.copy(name, readRepo('systemd', name))])
    const level = /Overall exposure level for \S+: ([\d.]+ \S+)/.exec(r.output)?.[1]
    t.equal(r.code, 0, `${name}: exposure ${level ?? r.output.trim().split('\n').at(-1)} is at most 2.0`)
  }
})

t.test('user unit: mounts ~/XCloud, outlives the drain on stop, cleans a dead mount', async (t) => {
  const text = readRepo('systemd', USER_UNIT)
  const unit = parseUnit(text)
  const argv = execStart(unit, {})
  t.same(argv.slice(0, 2), [`${BIN}xcloud`, 'mount'], 'runs xcloud mount')
  t.equal(argv.at(-1), '/home/someone/XCloud', 'mounts %h/XCloud')
  const drain = argv.includes('--drain') ? Number(argv[argv.indexOf('--drain') + 1]) : 30
  t.ok(seconds(value(unit, 'Service', 'TimeoutStopSec')!) > drain + 10, `TimeoutStopSec exceeds --drain ${drain} with room to unmount`)
  t.equal(value(unit, 'Service', 'ExecStartPre'), '/bin/mkdir -p %h/XCloud', 'creates the mount point')
  t.match(value(unit, 'Service', 'ExecStopPost'), /^-\S+.*fusermount -uz .*%h\/XCloud/, 'ExecStopPost detaches a dead mount, failures ignored')
  t.equal(value(unit, 'Service', 'Restart'), 'on-failure', 'Restart=on-failure')
  t.equal(value(unit, 'Install', 'WantedBy'), 'default.target', 'WantedBy=default.target')
  // In a user unit these imply NoNewPrivileges=yes, which stops the setuid fusermount; the
  // file-system ones would mount the drive in a namespace the session cannot see.
  for (const key of ['NoNewPrivileges', 'SystemCallFilter', 'RestrictAddressFamilies', 'RestrictNamespaces', 'LockPersonality',
    'MemoryDenyWriteExecute', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ReadWritePaths', 'User', 'DynamicUser']) {
    t.equal(value(unit, 'Service', key), undefined, `no ${key}=`)
  }
  t.match(text, /^#.*NoNewPrivileges=.*fusermount/m, 'a comment says why')

  // The ExecStopPost script leaves a healthy folder alone and detaches one it cannot stat (a
  // dead FUSE mount fails with ENOTCONN; a missing path stands in for it), with a fake fusermount.
  const [, script, ...rest] = /^-\/bin\/sh -c '([^']*)' (\S+) (\S+)$/.exec(value(unit, 'Service', 'ExecStopPost')!) ?? []
  t.ok(script && rest.length === 2, 'ExecStopPost is /bin/sh -c SCRIPT NAME %h/XCloud')
  const tmp = mkdtempSync(path.join(tmpdir(), 'xcloud-stoppost-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const calls = path.join(tmp, 'calls')
  writeFileSync(path.join(tmp, 'fusermount'), `#!/bin/sh\necho "$*" >> '${calls}'\n`)
  chmodSync(path.join(tmp, 'fusermount'), 0o755)
  const stopPost = (dir: string): Promise<Run> =>
    run('/bin/sh', ['-c', script!.replace(/\$\$/g, '$'), rest[0]!, dir], { PATH: `${tmp}:${process.env.PATH ?? '/usr/bin:/bin'}` })
  t.equal((await stopPost(tmp)).code, 0, 'the script runs')
  t.throws(() => readFileSync(calls), 'a healthy folder: fusermount not run')
  await stopPost(path.join(tmp, 'dead'))
  t.equal(readFileSync(calls, 'utf8'), `-uz ${path.join(tmp, 'dead')}\n`, 'a folder that cannot be stat()ed: fusermount -uz')
})

t.test('plists: strict XML plists with the keys launchd needs', async (t) => {
  for (const name of PLISTS) {
    const xml = readRepo('launchd', name)
    let plist: PlistDict
    try {
      plist = parsePlist(xml)
    } catch (err) {
      t.fail(`${name}: ${(err as Error).message}`)
      continue
    }
    t.equal(plist.Label, name.replace(/\.plist$/, ''), `${name}: Label is the file name`)
    const args = plist.ProgramArguments
    t.ok(Array.isArray(args) && args.length > 0 && args.every((a) => typeof a === 'string'), `${name}: ProgramArguments is a non-empty string array`)
    t.match((args as string[])[0], /^\//, `${name}: ProgramArguments[0] is absolute`)
    t.equal(plist.RunAtLoad, true, `${name}: RunAtLoad`)
    t.same(plist.KeepAlive, { SuccessfulExit: false }, `${name}: restarted after a failure only`)
    t.match((plist.EnvironmentVariables as PlistDict | undefined)?.PATH, /(^|:)\/usr\/local\/bin(:|$)/, `${name}: PATH finds node in /usr/local/bin`)
    t.type(plist.ExitTimeOut, 'number', `${name}: ExitTimeOut`)
    const program = DAEMONS[name]
    if (program) {
      t.equal(plist.UserName, `_${program}`, `${name}: runs as _${program}`)
      const dataDir = (args as string[])[(args as string[]).indexOf('--data') + 1]
      t.equal(plist.WorkingDirectory, dataDir, `${name}: WorkingDirectory is the data folder`)
      for (const key of ['StandardOutPath', 'StandardErrorPath']) t.match(plist[key], /^\/usr\/local\/var\/log\//, `${name}: ${key}`)
      t.not(plist.StandardOutPath, plist.StandardErrorPath, `${name}: stdout and stderr apart`)
    } else {
      // The agent: launchd expands no ~, so a sh wrapper finds $HOME; its script must be valid sh.
      t.same((args as string[]).slice(0, 2), ['/bin/sh', '-c'], `${name}: runs a sh wrapper`)
      const script = (args as string[])[2]!
      t.match(script, /exec \/usr\/local\/bin\/xcloud mount .*"\$d"/, `${name}: execs xcloud mount`)
      t.match(script, />>"\$HOME\/Library\/Logs\/xcloud\.log" 2>&1/, `${name}: logs to ~/Library/Logs`)
      const sh = await run('/bin/sh', ['-n', '-c', script])
      t.equal(sh.code, 0, `${name}: sh -n: ${sh.output}`)
      const drain = /--drain (\d+)/.exec(script)?.[1] ?? '30'
      t.ok((plist.ExitTimeOut as number) > Number(drain) + 10, `${name}: ExitTimeOut exceeds --drain ${drain}`)
    }
  }
})

t.test('plist reader: malformed plists are rejected', async (t) => {
  const good = readRepo('launchd', 'com.xcloud.xcore.plist')
  t.ok(parsePlist(good), 'the original parses')
  const breakages: Array<[string, (s: string) => string]> = [
    ['no XML declaration', (s) => s.replace(/^<\?xml[^>]*>\n/, '')],
    ['no DOCTYPE', (s) => s.replace(/<!DOCTYPE[^>]*>\n/, '')],
    ['another DOCTYPE', (s) => s.replace('PropertyList-1.0.dtd', 'PropertyList-2.0.dtd')],
    ['a wrong plist version', (s) => s.replace('<plist version="1.0">', '<plist version="2.0">')],
    ['an array at the root', (s) => s.replace(/<dict>\n  <key>Label/, '<array>\n  <key>Label').replace(/<\/dict>\n<\/plist>/, '</array>\n</plist>')],
    ['an unclosed element', (s) => s.replace('</string>', '')],
    ['mismatched tags', (s) => s.replace('</key>', '</string>')],
    ['a key without a value', (s) => s.replace(/<string>com\.xcloud\.xcore<\/string>/, '')],
    ['two keys in a row', (s) => s.replace('<string>com.xcloud.xcore</string>', '<key>Other</key>')],
    ['a duplicate key', (s) => s.replace('<key>UserName</key>', '<key>Label</key>')],
    ['an unknown value type', (s) => s.replace('<string>_xcore</string>', '<strng>_xcore</strng>')],
    ['a non-integer integer', (s) => s.replace('<integer>63</integer>', '<integer>0o77</integer>')],
    ['text inside <true/>', (s) => s.replace('<true/>', '<true>yes</true>')],
    ['text between dict entries', (s) => s.replace('<key>Label</key>', 'Label <key>Label</key>')],
    ['a bare ampersand', (s) => s.replace('_xcore</string>', '_x&core</string>')],
    ['an unknown entity', (s) => s.replace('_xcore</string>', '_x&nbsp;core</string>')],
    ['a double hyphen in a comment', (s) => s.replace('<!-- 63 = 0077', '<!-- 63 -- 0077')],
    ['content after the root', (s) => s + '<plist/>\n'],
    ['an attribute without quotes', (s) => s.replace('version="1.0">\n<dict>', 'version=1.0>\n<dict>')],
  ]
  for (const [what, breakIt] of breakages) {
    const bad = breakIt(good)
    t.not(bad, good, `${what}: applied`)
    t.throws(() => parsePlist(bad), { name: 'PlistError' }, what)
  }
  // Entities, CDATA and every value type, read back exactly.
  const all = parsePlist(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>s</key><string>a &amp;&amp; b &lt;&#x41;&#66;&gt; <![CDATA[<raw>&]]></string>
  <key>empty</key><string/>
  <key>n</key><integer>-42</integer>
  <key>yes</key><true/><key>no</key><false/>
  <key>list</key><array><string>x</string><integer>1</integer><array/></array>
  <key>d</key><dict><key>k</key><string>v</string></dict>
</dict></plist>`)
  t.same(all, { s: 'a && b <AB> <raw>&', empty: '', n: -42, yes: true, no: false, list: ['x', 1, []], d: { k: 'v' } })
})

t.test('every command line the services and docs run is one the CLIs accept', async (t) => {
  const lines: Array<[string, string[]]> = []
  for (const name of UNITS) {
    const text = readRepo('systemd', name)
    const unit = parseUnit(text)
    lines.push([`${name} ExecStart`, execStart(unit, environment(unit))])
    // The environment file shown in a comment (`#   XBRIDGE_OPTS=…`) must work too.
    const example = Object.fromEntries([...text.matchAll(/^#\s+([A-Z][A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]))
    if (Object.keys(example).length > 0) lines.push([`${name} with its example environment file`, execStart(unit, { ...environment(unit), ...example })])
  }
  t.ok(lines.some(([where, argv]) => where.startsWith('xbridge.service with') && argv.includes('--tls-cert')), 'xbridge.service shows TLS flags')
  for (const name of PLISTS) {
    const args = parsePlist(readRepo('launchd', name)).ProgramArguments as string[]
    if (args[0] === '/bin/sh') for (const argv of invocations(args[2]!)) lines.push([`${name} (sh wrapper)`, argv])
    else lines.push([name, args])
  }
  const docs = codeLines(readRepo('docs', 'services.md')).flatMap((l) => invocations(l).map((argv): [string, string[]] => ['docs/services.md', argv]))
  t.ok(docs.length >= 10, `${docs.length} command lines in docs/services.md`)
  lines.push(...docs)
  for (const name of [...UNITS, ...PLISTS]) t.ok(lines.some(([where]) => where.startsWith(name)), `${name} contributes its command line`)

  const checked = await Promise.all(lines.map(async ([where, argv]) => [where, argv, await commandProblems(argv)] as const))
  for (const [where, argv, problems] of checked) t.same(problems, [], `${where}: ${argv.join(' ')}`)
})
