/**
 * The client's pool of shard-sized buffers (plaintext reads, ciphertext downloads), in shared
 * memory: the crypto workers work on them where they are (crypto-pool.ts).
 */
import { BufferPool } from '../../shared/buffer-pool.js'
import { SHARD_SIZE } from '../../shared/protocol.js'

export const shardBuffers = new BufferPool(SHARD_SIZE, 16, true)
