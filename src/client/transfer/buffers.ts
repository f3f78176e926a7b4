/** The client's pool of shard-sized buffers (plaintext reads, ciphertext downloads). */
import { BufferPool } from '../../shared/buffer-pool.js'
import { SHARD_SIZE } from '../../shared/protocol.js'

export const shardBuffers = new BufferPool(SHARD_SIZE, 16)
