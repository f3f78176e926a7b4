import t from 'tap'
import type { TreeNode } from '../../src/shared/protocol.js'
import { checkRevision, decideDelete, decideMove } from '../../src/bridge/tree/rules.js'

const node = (id: string, kind: TreeNode['kind'], parentId: string | null = 'root'): TreeNode => ({
  id, parentId, nameHash: id.padEnd(64, '0'), encName: 'x', kind, encMeta: null, versionId: null, size: 0, revision: 3, mtime: 0,
})
const root = node('root', 'dir', null)
const move = (n: TreeNode, newParent: TreeNode, existing?: TreeNode, o: { replace?: boolean; anc?: string[]; full?: boolean } = {}) =>
  decideMove({ node: n, newParent, existing, replace: o.replace ?? false, newParentAncestors: o.anc ?? [], existingHasChildren: o.full ?? false })
const code = (d: ReturnType<typeof decideMove>) => (d.ok ? 'ok' : d.code)

t.test('moves follow rename(2)', async (t) => {
  const dir = node('d', 'dir')
  const sub = node('s', 'dir', 'd')
  const file = node('f', 'file')
  const file2 = node('g', 'file')
  const other = node('o', 'dir')
  t.equal(code(move(file, dir)), 'ok')
  t.equal(code(move(root, dir)), 'XC_FORBIDDEN', 'root cannot move')
  t.equal(code(move(file, file2)), 'XC_NOT_DIR', 'new parent must be a dir')
  t.equal(code(move(dir, dir)), 'XC_INVALID_MOVE', 'into itself')
  t.equal(code(move(dir, sub, undefined, { anc: ['d', 'root'] })), 'XC_INVALID_MOVE', 'into its subtree')
  t.equal(code(move(file, root, file2)), 'XC_EXISTS', 'target exists without replace')
  t.same(move(file, root, file2, { replace: true }), { ok: true, replaceId: 'g', sameNode: false }, 'file over file')
  t.equal(code(move(dir, root, file, { replace: true })), 'XC_NOT_DIR', 'dir over file')
  t.equal(code(move(file, root, other, { replace: true })), 'XC_IS_DIR', 'file over dir')
  t.equal(code(move(dir, root, other, { replace: true, full: true })), 'XC_NOT_EMPTY', 'dir over non-empty dir')
  t.same(move(dir, root, other, { replace: true }), { ok: true, replaceId: 'o', sameNode: false }, 'dir over empty dir')
  t.same(move(file, root, file), { ok: true, replaceId: null, sameNode: true }, 'onto itself is a rename in place')
  t.equal(code(move(node('l', 'symlink'), root, other, { replace: true })), 'XC_IS_DIR', 'symlink over dir')
})

t.test('delete and compare-and-swap', async (t) => {
  t.same(decideDelete(root, false), { ok: false, code: 'XC_FORBIDDEN', message: 'the root cannot be deleted' })
  t.equal((decideDelete(node('d', 'dir'), true) as { code: string }).code, 'XC_NOT_EMPTY')
  t.ok(decideDelete(node('d', 'dir'), false).ok)
  t.ok(decideDelete(node('f', 'file'), false).ok)
  t.ok(checkRevision(node('f', 'file'), undefined).ok)
  t.ok(checkRevision(node('f', 'file'), 3).ok)
  t.equal((checkRevision(node('f', 'file'), 2) as { code: string }).code, 'XC_CONFLICT')
})
