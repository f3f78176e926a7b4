/** A local file as a ShardSource: positional reads, one shard buffer at a time. */
import type { FileHandle } from 'node:fs/promises'
import { SHARD_SIZE } from '../../shared/protocol.js'
import type { ShardSource } from './upload.js'
import { shardBuffers } from './buffers.js'

export function fileSource(fh: FileHandle, size: number, shardSize = SHARD_SIZE): ShardSource {
  return {
    size,
    async read(index: number, length: number): Promise<Buffer> {
      const buf = shardBuffers.acquire(length)
      let off = 0
      while (off < length) {
        const { bytesRead } = await fh.read(buf, off, length - off, index * shardSize + off)
        if (bytesRead === 0) break
        off += bytesRead
      }
      return off === length ? buf : buf.subarray(0, off)
    },
    release: (buf: Buffer) => shardBuffers.release(buf),
  }
}
