import type { Change, TreeNode } from '../../shared/protocol.js'

/** Every method is scoped to one user: a node of another user is simply not there. */
export interface TreeStore {
  getNode(userId: string, id: string): TreeNode | undefined
  rootOf(userId: string): TreeNode | undefined
  childByName(userId: string, parentId: string, nameHash: string): TreeNode | undefined
  children(userId: string, parentId: string): TreeNode[]
  hasChildren(userId: string, id: string): boolean
  /** Ids from `id`'s parent up to the root (empty for the root). */
  ancestors(userId: string, id: string): string[]
  insertNode(userId: string, node: TreeNode): void
  /** Writes every mutable field of the node (parent, names, meta, version, size, revision, mtime). */
  updateNode(userId: string, node: TreeNode): void
  deleteNode(userId: string, id: string): void
  /** Appends to the change log; returns the change's sequence number (the cursor). */
  appendChange(userId: string, nodeId: string, op: Change['op'], node: TreeNode | null, at: number): number
  /** Changes of this user after `since`, oldest first, at most `limit`. */
  changesSince(userId: string, since: number, limit: number): Change[]
  usage(userId: string): { usedBytes: number; files: number }
}
