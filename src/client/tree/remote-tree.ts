/**
 * The remote tree seen through names: resolves plaintext paths to bridge nodes by keyed name
 * hashes (the bridge never sees a name), decrypts names and attributes for listings, and performs
 * mkdir, move and remove with the bridge's atomic operations.
 */
import { XError } from '../../shared/errors.js'
import type { NodeKind, TreeNode } from '../../shared/protocol.js'
import { decryptMeta, decryptName, encryptMeta, encryptName, nameHash, type AccountKeys } from '../../shared/crypto/index.js'
import type { BridgeClient } from '../remote/bridge-client.js'
import { joinPath, splitPath, validateName } from './paths.js'

export interface Entry {
  name: string
  path: string
  kind: NodeKind
  size: number
  mtime: number
  mode: number | null
  versionId: string | null
  id: string
}

export type TreeBridge = Pick<BridgeClient, 'root' | 'lookup' | 'children' | 'createNode' | 'move' | 'deleteNode'>

export class RemoteTree {
  private rootNode: Promise<TreeNode> | undefined

  constructor(private readonly bridge: TreeBridge, readonly keys: AccountKeys) {}

  root(): Promise<TreeNode> {
    this.rootNode ??= this.bridge.root()
    return this.rootNode
  }

  nameFields(parentId: string, name: string): { nameHash: string; encName: string } {
    const n = validateName(name)
    return { nameHash: nameHash(this.keys, parentId, n), encName: encryptName(this.keys, n) }
  }

  meta(m: Record<string, unknown>): string {
    return encryptMeta(this.keys, m)
  }

  /** The node at `path`, or null when some component does not exist. */
  async find(path: string | string[]): Promise<TreeNode | null> {
    let node = await this.root()
    for (const name of Array.isArray(path) ? path : splitPath(path)) {
      if (node.kind !== 'dir') throw new XError('XC_NOT_DIR', `${name}: a parent is not a directory`)
      const next = await this.bridge.lookup(node.id, nameHash(this.keys, node.id, name))
      if (!next) return null
      node = next
    }
    return node
  }

  async resolve(path: string): Promise<TreeNode> {
    const node = await this.find(path)
    if (!node) throw new XError('XC_NOT_FOUND', `${path}: no such file or directory`)
    return node
  }

  /** The existing parent folder of `path` and the last name. */
  async parentOf(path: string): Promise<{ parent: TreeNode; name: string; parts: string[] }> {
    const parts = splitPath(path)
    const name = parts.pop()
    if (name === undefined) throw new XError('XC_USAGE', 'the root has no parent')
    const parent = await this.resolve(joinPath(parts))
    if (parent.kind !== 'dir') throw new XError('XC_NOT_DIR', `${joinPath(parts)}: not a directory`)
    return { parent, name, parts: [...parts, name] }
  }

  entry(node: TreeNode, parentPath: string): Entry {
    const name = node.parentId === null ? '' : decryptName(this.keys, node.encName)
    // A name ciphertext is not bound to its node; the keyed hash is, so a swapped name shows.
    if (node.parentId !== null && nameHash(this.keys, node.parentId, name) !== node.nameHash) {
      throw new XError('XC_DECRYPT', `node ${node.id}: its name does not match its name hash`)
    }
    const meta = node.encMeta ? decryptMeta(this.keys, node.encMeta) : {}
    return {
      id: node.id,
      name,
      path: parentPath === '/' ? `/${name}` : `${parentPath}/${name}`,
      kind: node.kind,
      size: node.size,
      mtime: typeof meta.mtime === 'number' ? meta.mtime : node.mtime,
      mode: typeof meta.mode === 'number' ? meta.mode : null,
      versionId: node.versionId,
    }
  }

  async list(path: string): Promise<Entry[]> {
    const node = await this.resolve(path)
    const parentPath = joinPath(splitPath(path))
    if (node.kind !== 'dir') return [this.entry(node, joinPath(splitPath(path).slice(0, -1)))]
    const children = await this.bridge.children(node.id)
    return children.map((c) => this.entry(c, parentPath)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async mkdir(path: string, opts: { parents?: boolean } = {}): Promise<TreeNode> {
    const parts = splitPath(path)
    if (parts.length === 0) throw new XError('XC_EXISTS', '/ exists')
    let node = await this.root()
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1
      const fields = this.nameFields(node.id, parts[i]!)
      const existing = await this.bridge.lookup(node.id, fields.nameHash)
      if (existing) {
        if (last && !opts.parents) throw new XError('XC_EXISTS', `${joinPath(parts.slice(0, i + 1))}: exists`)
        if (existing.kind !== 'dir') throw new XError('XC_NOT_DIR', `${joinPath(parts.slice(0, i + 1))}: not a directory`)
        node = existing
        continue
      }
      if (!last && !opts.parents) throw new XError('XC_NOT_FOUND', `${joinPath(parts.slice(0, i + 1))}: no such directory`)
      node = await this.bridge.createNode({ parentId: node.id, ...fields, kind: 'dir', encMeta: this.meta({ mode: 0o755, mtime: Date.now() }) })
    }
    return node
  }

  /** `mv`: into an existing folder keeps the name; otherwise renames, replacing a file atomically. */
  async move(src: string, dst: string): Promise<TreeNode> {
    const node = await this.resolve(src)
    if (node.parentId === null) throw new XError('XC_FORBIDDEN', 'cannot move the root')
    const srcName = splitPath(src).at(-1)!
    const target = await this.find(dst)
    let parent: TreeNode
    let name: string
    if (target && target.kind === 'dir' && target.id !== node.id) {
      parent = target
      name = srcName
    } else {
      const p = await this.parentOf(dst)
      parent = p.parent
      name = p.name
    }
    return this.bridge.move(node.id, { parentId: parent.id, ...this.nameFields(parent.id, name), replace: true })
  }

  async remove(path: string, opts: { recursive?: boolean } = {}): Promise<number> {
    const node = await this.resolve(path)
    if (node.parentId === null) throw new XError('XC_FORBIDDEN', 'cannot remove the root')
    if (node.kind === 'dir' && !opts.recursive) {
      const children = await this.bridge.children(node.id)
      if (children.length) throw new XError('XC_IS_DIR', `${path}: is a directory (use -r)`)
    }
    return this.removeNode(node)
  }

  private async removeNode(node: TreeNode): Promise<number> {
    let n = 0
    if (node.kind === 'dir') {
      for (const child of await this.bridge.children(node.id)) n += await this.removeNode(child)
    }
    await this.bridge.deleteNode(node.id)
    return n + 1
  }
}
