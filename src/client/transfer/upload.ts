/**
 * Upload pipeline: read plaintext shard by shard → encrypt (fresh file key per version, fresh IV
 * per shard) → hash → ask the bridge for placement in small batches → PUT each shard to all its
 * mirrors in parallel → hand the hosts' receipts to the bridge → commit the version.
 *
 * Memory is bounded by construction: at most `groupsInFlight` batches of `groupSize` encrypted
 * shards exist at once (default 2 × 4 × 2 MiB = 16 MiB), whatever the file size. A mirror that
 * fails is replaced by the bridge with another host; the version commits only when every shard
 * has receipts from all its mirrors.
 */
import { XError, toXError } from '../../shared/errors.js'
import { batch, parallelMap } from '../../shared/pipeline.js'
import { SHARD_SIZE, type CommitRequest, type CommitResponse, type HostContact, type Receipt, type ShardPlacement } from '../../shared/protocol.js'
import { shardCount, shardLength } from '../../shared/sharding.js'
import { encryptShard, generateFileKey, sealManifest, wrapKey, type ManifestShard } from '../../shared/crypto/index.js'
import type { BridgeClient } from '../remote/bridge-client.js'
import { putShard } from './host-client.js'

export const FILE_KEY_AAD = 'xc-fk-v1'

/** Where plaintext comes from: a size and random access by shard. */
export interface ShardSource {
  readonly size: number
  read(index: number, length: number): Promise<Buffer>
  /** Take back a buffer `read` returned, once it is no longer used. */
  release?(buf: Buffer): void
}

export interface UploadOptions {
  groupSize?: number
  groupsInFlight?: number
  /** Called with plaintext bytes stored so far (on all mirrors). */
  onProgress?: (bytes: number) => void
  /** How often one shard may ask the bridge for a replacement host. */
  maxReplacements?: number
}

interface EncryptedPiece extends ManifestShard {
  ciphertext: Buffer
}

export type UploadBridge = Pick<BridgeClient, 'createUpload' | 'place' | 'replace' | 'receipts' | 'commit'>

export async function uploadVersion(
  bridge: UploadBridge,
  fileWrapKey: Buffer,
  source: ShardSource,
  target: CommitRequest['target'],
  baseVersionId: string | null,
  opts: UploadOptions = {},
): Promise<CommitResponse> {
  const fileKey = generateFileKey()
  const upload = await bridge.createUpload()
  const count = shardCount(source.size)
  const manifestShards: ManifestShard[] = new Array(count)
  let done = 0

  async function* encrypted(): AsyncGenerator<EncryptedPiece> {
    for (let index = 0; index < count; index++) {
      const length = shardLength(index, source.size)
      const plain = await source.read(index, length)
      if (plain.length !== length) throw new XError('XC_LOCAL_IO', `short read of shard ${index}: file changed while uploading`)
      const { iv, ciphertext, hash } = encryptShard(fileKey, plain)
      source.release?.(plain)
      yield { index, size: length, iv, hash, ciphertext }
    }
  }

  const storeGroup = async (group: EncryptedPiece[]): Promise<void> => {
    const placed = await bridge.place(upload.uploadId, group.map((p) => ({ hash: p.hash, size: p.size })))
    const byHash = new Map(placed.placements.map((p) => [p.hash, p]))
    const receipts: Receipt[] = []
    await Promise.all(group.map(async (piece) => {
      const placement = byHash.get(piece.hash)
      if (!placement) throw new XError('XC_INTERNAL', `bridge placed no hosts for shard ${piece.index}`)
      receipts.push(...await storeOnMirrors(bridge, upload.uploadId, piece, placement, placed.hosts, opts.maxReplacements ?? 4))
      manifestShards[piece.index] = { index: piece.index, size: piece.size, iv: piece.iv, hash: piece.hash }
    }))
    await bridge.receipts(upload.uploadId, receipts)
    for (const piece of group) {
      done += piece.size
    }
    opts.onProgress?.(done)
  }

  for await (const _ of parallelMap(batch(encrypted(), opts.groupSize ?? 4), opts.groupsInFlight ?? 2, storeGroup)) { /* drained */ }

  const manifest = sealManifest(fileKey, { v: 1, size: source.size, shardSize: SHARD_SIZE, shards: manifestShards })
  return bridge.commit(upload.uploadId, {
    target,
    baseVersionId,
    size: source.size,
    wrappedKey: wrapKey(fileWrapKey, fileKey, FILE_KEY_AAD),
    manifest: manifest.toString('base64url'),
    shards: manifestShards.map((s) => ({ hash: s.hash, size: s.size })),
  })
}

/** PUT one shard to every target; a failing host is replaced by one the bridge picks. */
async function storeOnMirrors(
  bridge: UploadBridge,
  uploadId: string,
  piece: EncryptedPiece,
  placement: ShardPlacement,
  hosts: Record<string, HostContact>,
  maxReplacements: number,
): Promise<Receipt[]> {
  const failed: string[] = []
  let replacements = 0
  const storeAt = async (hostId: string, token: string, contacts: Record<string, HostContact>): Promise<Receipt> => {
    for (;;) {
      const contact = contacts[hostId]
      try {
        if (!contact) throw new XError('XC_INTERNAL', `bridge named host ${hostId} without its contact`)
        return await putShard(contact, token, piece.hash, piece.ciphertext)
      } catch (err) {
        const x = toXError(err)
        if (!x.retryable && x.code !== 'XC_CAPACITY' && x.code !== 'XC_NOT_FOUND') throw x
        failed.push(hostId)
        if (++replacements > maxReplacements) throw new XError('XC_NOT_ENOUGH_HOSTS', `shard ${piece.index}: ${failed.length} hosts failed; last: ${x.message}`)
        const again = await bridge.replace(uploadId, piece.hash, failed)
        const next = again.placements[0]?.targets[0]
        if (!next) throw new XError('XC_NOT_ENOUGH_HOSTS', `no replacement host for shard ${piece.index}`)
        hostId = next.hostId
        token = next.token
        contacts = again.hosts
      }
    }
  }
  return Promise.all(placement.targets.map((t) => storeAt(t.hostId, t.token, hosts)))
}
