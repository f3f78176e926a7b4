/**
 * The client core: an account's view of the network from one device.
 *
 * Words: the **master key** (MK) never leaves the user's devices; **file keys** (one per version)
 * are stored wrapped by MK; a **manifest** lists a version's shards and is authenticated with a key
 * derived from the file key; **names** reach the bridge only encrypted (plus a keyed hash to look
 * them up). Invariants: nothing plaintext leaves this process; every byte read from a host is
 * checked against the authenticated manifest before it is decrypted; memory is bounded by the
 * transfer pipelines' concurrency, never by a file's size.
 */
import { open, stat } from 'node:fs/promises'
import path from 'node:path'
import { XError } from '../shared/errors.js'
import type { CommitResponse, TreeNode } from '../shared/protocol.js'
import { deriveAccountKeys, type AccountKeys } from '../shared/crypto/index.js'
import { BridgeClient } from './remote/bridge-client.js'
import { loadCredentials, resolveHome, type Credentials } from './session/home.js'
import { RemoteTree } from './tree/remote-tree.js'
import { downloadToFile, type DownloadOptions } from './transfer/download.js'
import { fileSource } from './transfer/local-source.js'
import { POOLED_MIN, uploadVersion, type UploadOptions } from './transfer/upload.js'
import { cryptoPool } from './transfer/crypto-pool.js'
import { closeAgents } from './transfer/host-client.js'

export class XCloudClient {
  readonly bridge: BridgeClient
  readonly keys: AccountKeys
  readonly tree: RemoteTree
  readonly masterKey: Buffer

  constructor(readonly credentials: Credentials) {
    this.bridge = new BridgeClient(credentials.bridge, credentials.session)
    this.masterKey = Buffer.from(credentials.masterKey, 'base64url')
    this.keys = deriveAccountKeys(this.masterKey)
    this.tree = new RemoteTree(this.bridge, this.keys)
  }

  static async fromHome(home?: string): Promise<XCloudClient> {
    return new XCloudClient(await loadCredentials(resolveHome(home)))
  }

  /** Upload a local file to `remote` (a file path, or an existing folder to put it in). */
  async put(local: string, remote: string, opts: UploadOptions = {}): Promise<CommitResponse> {
    let st
    try { st = await stat(local) } catch { throw new XError('XC_USAGE', `${local}: no such local file`) }
    if (!st.isFile()) throw new XError('XC_USAGE', `${local}: not a regular file`)
    // A worker thread takes tens of milliseconds to start: it does while the path is looked up.
    if (st.size >= POOLED_MIN && !opts.cryptoPool) cryptoPool()
    let target = await this.tree.find(remote)
    let destPath = remote
    if (target?.kind === 'dir') {
      destPath = path.posix.join(remote, path.basename(local))
      target = await this.tree.find(destPath)
    }
    if (target && target.kind !== 'file') throw new XError('XC_IS_DIR', `${destPath}: is not a file`)
    const encMeta = this.tree.meta({ mode: st.mode & 0o7777, mtime: Math.round(st.mtimeMs) })
    let commitTarget
    if (target) {
      commitTarget = { nodeId: target.id }
    } else {
      const { parent, name } = await this.tree.parentOf(destPath)
      commitTarget = { parentId: parent.id, ...this.tree.nameFields(parent.id, name), encMeta }
    }
    const fh = await open(local, 'r')
    try {
      // A command has memory to spare that the daemon keeps for its cache: three groups in flight
      // (30 MiB of ciphertext) keep the hosts busy while a group waits for its slowest mirror.
      // Five measured the same speed with more memory; two, about 5 % slower.
      return await uploadVersion(this.bridge, this.keys.fileWrapKey, fileSource(fh, st.size), commitTarget, target?.versionId ?? null, { groupsInFlight: 3, ...opts })
    } finally {
      await fh.close()
    }
  }

  /** Download `remote` to `local` (a file path, or an existing folder to put it in). */
  async get(remote: string, local: string, opts: DownloadOptions = {}): Promise<{ bytes: number; path: string }> {
    const node = await this.tree.resolve(remote)
    if (node.kind !== 'file') throw new XError('XC_IS_DIR', `${remote}: not a file`)
    let dest = local
    try {
      if ((await stat(local)).isDirectory()) dest = path.join(local, path.posix.basename(remote))
    } catch { /* a new file */ }
    const info = await this.bridge.content(node.id)
    const r = await downloadToFile(this.bridge, this.keys.fileWrapKey, info, dest, opts)
    return { bytes: r.bytes, path: dest }
  }

  async node(remote: string): Promise<TreeNode> {
    return this.tree.resolve(remote)
  }

  close(): void {
    closeAgents()
  }
}
