/**
 * Download a file version to a local path: shards fetched in parallel (bounded), each verified and
 * decrypted by the ShardFetcher, written at its offset into `<dest>.xcpart`, fsynced, then
 * renamed over `dest`, so a reader never sees a half-written file and a failed download leaves
 * the old file intact. Memory: at most `concurrency` shards (2 MiB each, decrypted in place)
 * at once.
 */
import { rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { DirectWriter } from '../../shared/direct-io.js'
import { shardBuffers } from './buffers.js'
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
  const writer = await DirectWriter.open(path.dirname(part), SHARD_SIZE, 16)
  const file = await writer.openFile(part, info.size)
  let ok = false
  try {
    let done = 0
    const pending = shards.map((s) => s.index)
    // Two shards in flight per host holding the file (plus one), never fewer than 6 nor more
    // than 24: each costs a 2 MiB buffer. With one per host, a shard can only go to its own
    // mirrors, so some hosts sat idle while others had two; and a host that finished one
    // waited a round trip for the next. With hosts limited to 16 MB/s, 8 hosts delivered
    // 85-99 MB/s with one per host and 94-116 with two.
    const concurrency = opts.concurrency ?? Math.min(24, Math.max(6, 2 * (await fetcher.hostCount()) + 1))
    for await (const _ of parallelMap(soonestFirst(fetcher, pending, concurrency), concurrency, async (index) => {
      const plain = await fetcher.fetch(index)
      // Into an aligned buffer, so the write can skip the page cache (see shared/direct-io.ts).
      const aligned = await writer.acquire(plain.length)
      try {
        plain.copy(aligned)
        shardBuffers.release(plain)
        await file.writeAt(aligned, index * (shardSize || SHARD_SIZE))
      } finally {
        writer.release(aligned)
      }
      done += plain.length
      opts.onProgress?.(done)
    })) { /* drained */ }
    await file.sync()
    ok = true
  } finally {
    await file.close()
    if (!ok) await rm(part, { force: true })
  }
  await rename(part, dest)
  return { bytes: info.size }
}

/**
 * The shards in the order to start them: each time a slot frees (parallelMap pulls then), the one
 * among the next `lookahead` whose best mirror is expected to deliver soonest, the earliest on a
 * tie. In file order, a host whose requests had both finished could wait several starts for a
 * shard it holds while the next ones went to busy hosts; with hosts limited to 16 MB/s, 8 hosts
 * delivered 94–119 MB/s. The file is written by offset, so the order is free.
 */
export function* soonestFirst(fetcher: Pick<ShardFetcher, 'startCost'>, pending: number[], lookahead: number): Generator<number> {
  while (pending.length > 0) {
    let at = 0
    let best = fetcher.startCost(pending[0]!) ?? Infinity
    for (let i = 1; i < Math.min(lookahead, pending.length); i++) {
      const cost = fetcher.startCost(pending[i]!)
      if (cost !== undefined && cost < best * 0.9) { at = i; best = cost }
    }
    yield pending.splice(at, 1)[0]!
  }
}
