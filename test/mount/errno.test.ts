/**
 * Wrong use of the mount gets the errno a local disk would give. The calls run in a child node
 * process (never in the test process, which must not touch a FUSE mount synchronously).
 */
import t from 'tap'
import { newUser, startNetwork, workdir } from '../helpers/network.js'
import { mount, nodeJson } from '../helpers/mount.js'

const script = String.raw`
const fs = require('fs'), path = require('path')
const root = process.argv[1], other = process.argv[2]
const p = (...a) => path.join(root, ...a)
const code = (fn) => { try { fn(); return 'ok' } catch (e) { return e.code } }
fs.mkdirSync(p('dir')); fs.writeFileSync(p('dir', 'f'), 'x'); fs.writeFileSync(p('file'), 'y'); fs.mkdirSync(p('empty'))
const out = {
  statMissing: code(() => fs.statSync(p('missing'))),
  openMissing: code(() => fs.openSync(p('missing', 'x'), 'r')),
  mkdirExisting: code(() => fs.mkdirSync(p('dir'))),
  createExcl: code(() => fs.openSync(p('file'), 'wx')),
  rmdirNotEmpty: code(() => fs.rmdirSync(p('dir'))),
  renameDirOverNonEmpty: code(() => fs.renameSync(p('empty'), p('dir'))),
  unlinkDir: code(() => fs.unlinkSync(p('dir'))),
  openDirForWrite: code(() => fs.openSync(p('dir'), 'w')),
  readDirAsFile: code(() => fs.readFileSync(p('dir'))),
  renameFileOverDir: code(() => fs.renameSync(p('file'), p('empty'))),
  renameDirOverFile: code(() => fs.renameSync(p('empty'), p('file'))),
  fileAsDir: code(() => fs.statSync(p('file', 'x'))),
  mkdirUnderFile: code(() => fs.mkdirSync(p('file', 'sub'))),
  rmdirFile: code(() => fs.rmdirSync(p('file'))),
  longName: code(() => fs.writeFileSync(p('n'.repeat(256)), 'z')),
  longMkdir: code(() => fs.mkdirSync(p('d'.repeat(256)))),
  name255: code(() => fs.writeFileSync(p('m'.repeat(255)), 'z')),
  crossDevice: code(() => fs.renameSync(p('file'), path.join(other, 'moved'))),
  readlinkFile: code(() => fs.readlinkSync(p('file'))),
  rmdirMissing: code(() => fs.rmdirSync(p('missing'))),
  renameIntoItself: code(() => fs.renameSync(p('dir'), p('dir', 'inner'))),
  utimesKeepsMtime: (fs.utimesSync(p('file'), 1000000000, 1200000000), fs.statSync(p('file')).mtimeMs),
}
process.stdout.write(JSON.stringify(out))
`

t.test('wrong use gets the right errno', async (t) => {
  const net = await startNetwork(t, { hosts: 3, mirrors: 3 })
  const user = await newUser(t, net, 'errno@example.com')
  const m = await mount(t, user)
  const outside = workdir(t, 'outside')
  const r = await nodeJson<Record<string, string>>(script, m.dir, outside)
  t.same(r, {
    statMissing: 'ENOENT',
    openMissing: 'ENOENT',
    mkdirExisting: 'EEXIST',
    createExcl: 'EEXIST',
    rmdirNotEmpty: 'ENOTEMPTY',
    renameDirOverNonEmpty: 'ENOTEMPTY',
    unlinkDir: 'EISDIR',
    openDirForWrite: 'EISDIR',
    readDirAsFile: 'EISDIR',
    renameFileOverDir: 'EISDIR',
    renameDirOverFile: 'ENOTDIR',
    fileAsDir: 'ENOTDIR',
    mkdirUnderFile: 'ENOTDIR',
    rmdirFile: 'ENOTDIR',
    longName: 'ENAMETOOLONG',
    longMkdir: 'ENAMETOOLONG',
    name255: 'ok',
    crossDevice: 'EXDEV',
    readlinkFile: 'EINVAL',
    rmdirMissing: 'ENOENT',
    renameIntoItself: 'EINVAL',
    utimesKeepsMtime: 1200000000000,
  })
})
