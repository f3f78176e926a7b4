import t from 'tap'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { NODE_FLAGS, programArgv, programPath, type Program } from '../../src/shared/node-flags.js'

const execFileP = promisify(execFile)
const programs = Object.keys(NODE_FLAGS) as Program[]

t.test('each bin starts node with the same flags as programArgv', async (t) => {
  for (const program of programs) {
    const firstLine = (await readFile(programPath(program), 'utf8')).split('\n', 1)[0]
    t.equal(firstLine, `#!/usr/bin/env -S node ${NODE_FLAGS[program].join(' ')}`, program)
  }
})

t.test('node accepts every flag and the programs run with them', async (t) => {
  for (const program of programs) {
    const { stdout } = await execFileP(process.execPath, programArgv(program, ['--help']))
    t.match(stdout, /Usage:/, program)
  }
})
