/**
 * Pure decisions of the tree: whether a move, a delete or a compare-and-swap may happen. The
 * answers mirror rename(2) and rmdir(2): a file may replace a file, a directory only an empty
 * directory, nothing may move into its own subtree, and a user's root stays where it is.
 */
import type { ErrorCode } from '../../shared/errors.js'
import type { TreeNode } from '../../shared/protocol.js'

export type MoveDecision =
  | { ok: true; replaceId: string | null; sameNode: boolean }
  | { ok: false; code: ErrorCode; message: string }

export interface MoveInput {
  node: TreeNode
  newParent: TreeNode
  /** Ids from newParent's parent up to the root. */
  newParentAncestors: readonly string[]
  /** The node already at (newParent, nameHash), if any. */
  existing: TreeNode | undefined
  existingHasChildren: boolean
  replace: boolean
}

export function decideMove(m: MoveInput): MoveDecision {
  if (m.node.parentId === null) return { ok: false, code: 'XC_FORBIDDEN', message: 'the root cannot be moved' }
  if (m.newParent.kind !== 'dir') return { ok: false, code: 'XC_NOT_DIR', message: 'the new parent is not a directory' }
  if (m.node.kind === 'dir' && (m.newParent.id === m.node.id || m.newParentAncestors.includes(m.node.id))) {
    return { ok: false, code: 'XC_INVALID_MOVE', message: 'cannot move a directory into its own subtree' }
  }
  const ex = m.existing
  if (!ex) return { ok: true, replaceId: null, sameNode: false }
  if (ex.id === m.node.id) return { ok: true, replaceId: null, sameNode: true }
  if (!m.replace) return { ok: false, code: 'XC_EXISTS', message: 'the target name exists' }
  if (m.node.kind === 'dir' && ex.kind !== 'dir') return { ok: false, code: 'XC_NOT_DIR', message: 'cannot replace a file with a directory' }
  if (m.node.kind !== 'dir' && ex.kind === 'dir') return { ok: false, code: 'XC_IS_DIR', message: 'cannot replace a directory with a file' }
  if (ex.kind === 'dir' && m.existingHasChildren) return { ok: false, code: 'XC_NOT_EMPTY', message: 'the target directory is not empty' }
  return { ok: true, replaceId: ex.id, sameNode: false }
}

export type SimpleDecision = { ok: true } | { ok: false; code: ErrorCode; message: string }

export function decideDelete(node: TreeNode, hasChildren: boolean): SimpleDecision {
  if (node.parentId === null) return { ok: false, code: 'XC_FORBIDDEN', message: 'the root cannot be deleted' }
  if (node.kind === 'dir' && hasChildren) return { ok: false, code: 'XC_NOT_EMPTY', message: 'directory not empty' }
  return { ok: true }
}

/** Compare-and-swap on a node's revision; no expectation always passes. */
export function checkRevision(node: TreeNode, expected: number | undefined): SimpleDecision {
  if (expected === undefined || expected === node.revision) return { ok: true }
  return { ok: false, code: 'XC_CONFLICT', message: `node is at revision ${node.revision}, not ${expected}` }
}
