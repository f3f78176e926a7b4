/**
 * A free list of shard-sized buffers. Every transfer moves 2 MiB pieces; allocating each anew
 * makes V8 count gigabytes of external memory and run a full mark-compact every few dozen
 * shards. Reusing a bounded set of buffers keeps that work off the data path. A buffer must be
 * released exactly once, after nothing reads it any more; `maxFree` bounds what stays cached.
 */
export class BufferPool {
  private readonly free: Buffer[] = []

  /**
   * `shared`: pooled buffers are SharedArrayBuffer memory, which threads can share without moving
   * it (the client's crypto workers: crypto-pool.ts). Such memory starts zeroed.
   */
  constructor(readonly bufferSize: number, private readonly maxFree = 32, private readonly shared = false) {}

  /** A buffer of exactly `length` bytes (a view of a pooled one when length fits). */
  acquire(length: number): Buffer {
    if (length > this.bufferSize) return Buffer.allocUnsafeSlow(length)
    const buf = this.free.pop() ?? (this.shared ? Buffer.from(new SharedArrayBuffer(this.bufferSize)) : Buffer.allocUnsafeSlow(this.bufferSize))
    return buf.subarray(0, length)
  }

  release(view: Buffer): void {
    // Only whole pooled buffers come back (each owns its ArrayBuffer, starting at offset 0).
    if (view.buffer.byteLength !== this.bufferSize || view.byteOffset !== 0) return
    if ((view.buffer instanceof SharedArrayBuffer) !== this.shared) return
    if (this.free.length < this.maxFree) this.free.push(Buffer.from(view.buffer, 0, this.bufferSize))
  }
}
