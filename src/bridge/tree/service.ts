/**
 * Tree writes. Each runs in one transaction that reads the nodes involved, asks the pure rules in
 * rules.ts, writes, and appends the change-log entries every device pulls from, so the log and
 * the tree never disagree. Every node bumps its revision on each change.
 */
import { xerr, type ErrorCode } from '../../shared/errors.js'
import type { CommitRequest, CreateNodeRequest, MoveRequest, TreeNode, UpdateNodeRequest } from '../../shared/protocol.js'
import { newId } from '../ids.js'
import type { Transactor } from '../store/index.js'
import { checkRevision, decideDelete, decideMove } from './rules.js'
import type { TreeStore } from './store.js'

type Decision = { ok: true } | { ok: false; code: ErrorCode; message: string }

function must<D extends Decision>(d: D): asserts d is Extract<D, { ok: true }> {
  if (!d.ok) throw xerr(d.code, d.message)
}

type Reads = Pick<TreeStore, 'getNode' | 'childByName' | 'hasChildren' | 'ancestors'>
type Writes = Pick<TreeStore, 'insertNode' | 'updateNode' | 'deleteNode' | 'appendChange'>
export type TreeDeps = Transactor & Reads & Writes

function nodeOf(s: Pick<TreeStore, 'getNode'>, userId: string, id: string): TreeNode {
  const n = s.getNode(userId, id)
  if (!n) throw xerr('XC_NOT_FOUND', 'no such node')
  return n
}

function dirOf(s: Pick<TreeStore, 'getNode'>, userId: string, id: string): TreeNode {
  const n = s.getNode(userId, id)
  if (!n) throw xerr('XC_NOT_FOUND', 'no such parent')
  if (n.kind !== 'dir') throw xerr('XC_NOT_DIR', 'the parent is not a directory')
  return n
}

function insert(s: Pick<Writes, 'insertNode' | 'appendChange'>, userId: string, node: TreeNode): TreeNode {
  s.insertNode(userId, node)
  s.appendChange(userId, node.id, 'upsert', node, node.mtime)
  return node
}

function update(s: Writes, userId: string, node: TreeNode): TreeNode {
  s.updateNode(userId, node)
  s.appendChange(userId, node.id, 'upsert', node, node.mtime)
  return node
}

function remove(s: Writes, userId: string, id: string, now: number): void {
  s.deleteNode(userId, id)
  s.appendChange(userId, id, 'delete', null, now)
}

/** A user's root directory; written in the registration transaction. */
export function newRootNode(now: number): TreeNode {
  return { id: newId(), parentId: null, nameHash: '', encName: '', kind: 'dir', encMeta: null, versionId: null, size: 0, revision: 1, mtime: now }
}

export function insertRoot(s: Pick<Writes, 'insertNode' | 'appendChange'>, userId: string, now: number): TreeNode {
  return insert(s, userId, newRootNode(now))
}

export function createNode(s: TreeDeps, userId: string, req: CreateNodeRequest, now: number): TreeNode {
  return s.transaction(() => {
    dirOf(s, userId, req.parentId)
    if (s.childByName(userId, req.parentId, req.nameHash)) throw xerr('XC_EXISTS', 'the name exists in that directory')
    return insert(s, userId, {
      id: newId(), parentId: req.parentId, nameHash: req.nameHash, encName: req.encName, kind: req.kind,
      encMeta: req.encMeta ?? null, versionId: null, size: 0, revision: 1, mtime: now,
    })
  })
}

export function moveNode(s: TreeDeps, userId: string, id: string, req: MoveRequest, now: number): TreeNode {
  return s.transaction(() => {
    const node = nodeOf(s, userId, id)
    must(checkRevision(node, req.expectedRevision))
    const newParent = s.getNode(userId, req.parentId)
    if (!newParent) throw xerr('XC_NOT_FOUND', 'no such parent')
    const existing = s.childByName(userId, req.parentId, req.nameHash)
    const d = decideMove({
      node, newParent, existing, replace: req.replace === true,
      newParentAncestors: node.kind === 'dir' ? s.ancestors(userId, newParent.id) : [],
      existingHasChildren: existing?.kind === 'dir' ? s.hasChildren(userId, existing.id) : false,
    })
    must(d)
    if (d.replaceId) remove(s, userId, d.replaceId, now)
    return update(s, userId, { ...node, parentId: req.parentId, nameHash: req.nameHash, encName: req.encName, revision: node.revision + 1, mtime: now })
  })
}

export function updateNodeMeta(s: TreeDeps, userId: string, id: string, req: UpdateNodeRequest, now: number): TreeNode {
  return s.transaction(() => {
    const node = nodeOf(s, userId, id)
    must(checkRevision(node, req.expectedRevision))
    return update(s, userId, { ...node, encMeta: req.encMeta, revision: node.revision + 1, mtime: now })
  })
}

export function deleteNode(s: TreeDeps, userId: string, id: string, expectedRevision: number | undefined, now: number): void {
  s.transaction(() => {
    const node = nodeOf(s, userId, id)
    must(checkRevision(node, expectedRevision))
    must(decideDelete(node, node.kind === 'dir' && s.hasChildren(userId, id)))
    remove(s, userId, id, now)
  })
}

/**
 * Point a file node at a freshly committed version (compare-and-swap on its current version).
 * Runs inside the caller's commit transaction. A new name creates the file node; an existing FILE
 * under that name gets the new version.
 */
export function attachVersion(
  s: Reads & Writes, userId: string, target: CommitRequest['target'], baseVersionId: string | null,
  versionId: string, size: number, now: number,
): TreeNode {
  let node: TreeNode | undefined
  let encMeta: string | null | undefined
  if ('nodeId' in target) {
    node = nodeOf(s, userId, target.nodeId)
  } else {
    dirOf(s, userId, target.parentId)
    node = s.childByName(userId, target.parentId, target.nameHash)
    encMeta = target.encMeta
    if (!node) {
      if (baseVersionId !== null) throw xerr('XC_CONFLICT', 'the file does not exist any more', { currentVersionId: null })
      return insert(s, userId, {
        id: newId(), parentId: target.parentId, nameHash: target.nameHash, encName: target.encName, kind: 'file',
        encMeta: encMeta ?? null, versionId, size, revision: 1, mtime: now,
      })
    }
  }
  if (node.kind === 'dir') throw xerr('XC_IS_DIR', 'cannot give a directory content')
  if (node.kind !== 'file') throw xerr('XC_BAD_REQUEST', 'only regular files have content')
  if (node.versionId !== baseVersionId) {
    throw xerr('XC_CONFLICT', 'the file has a newer version', { currentVersionId: node.versionId })
  }
  return update(s, userId, {
    ...node, versionId, size, encMeta: encMeta === undefined ? node.encMeta : encMeta, revision: node.revision + 1, mtime: now,
  })
}
