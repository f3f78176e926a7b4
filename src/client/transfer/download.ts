/**
 * Download a file version to a local path: shards fetched in parallel (bounded), each verified and
 * decrypted by the ShardFetcher, written at its offset into `<dest>.xcpart`, fsynced, then
 * renamed over `dest`, so a reader never sees a half-written file and a failed download leaves
 * the old file intact. Memory: at most `concurrency` shards (2 MiB each) at once.
 */
import { open, rename, rm } from 'node:fs/promises'
import { parallelMap } from '../../shared/pipeline.js'
import { SHARD_SIZE, type ContentInfo } from '../../shared/protocol.js'
import { ShardFetcher, type FetchBridge, type FetcherOptions } from './fetcher.js'

export interface DownloadOptions extends FetcherOptions {
  concurrency?: number
  onProgress?: (bytes: number) => void
}

export async function downloadToFile(bridge: FetchBridge, fileWrapKey: Buffer, info: ContentInfo, dest: string, opts: DownloadOptions = {}): Promise<{ bytes: number }> {
  const fetcher = new ShardFetcher(bridge, fileWrapKey, info, opts)
  const { shardSize, shards } = fetcher.manifest
  const part = `${dest}.xcpart`
  const fh = await open(part, 'w', 0o600)
  let ok = false
  try {
    await fh.truncate(info.size)
    let done = 0
    const indices = shards.map((s) => s.index)
    for await (const _ of parallelMap(indices, opts.concurrency ?? 16, async (index) => {
      const plain = await fetcher.fetch(index)
      await fh.write(plain, 0, plain.length, index * (shardSize || SHARD_SIZE))
      done += plain.length
      opts.onProgress?.(done)
    })) { /* drained */ }
    await fh.sync()
    ok = true
  } finally {
    await fh.close()
    if (!ok) await rm(part, { force: true })
  }
  await rename(part, dest)
  return { bytes: info.size }
}
