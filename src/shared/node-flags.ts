/**
 * V8 heap settings for each program, given on the node command line (they cannot be changed once
 * the process runs): the bins' shebangs carry them, and everything that spawns a program
 * (LocalNet, the benchmark, tests) uses `programArgv`.
 *
 * Why: the data path allocates a Buffer per TLS record (16 KiB) on hosts and a ciphertext buffer
 * per shard on the client. V8 counts those bytes toward a "global" limit derived from the JS heap,
 * which for these small heaps (10–20 MB) is reached after a few megabytes of buffers, so a host
 * receiving 100 MB/s ran about five full mark-compacts a second: half of its CPU. Starting with a
 * larger old-generation limit lets the cheap young-generation collections free those buffers
 * instead (measured in bench/RESULTS.md). It is a limit, not a reservation: resident memory grows
 * only by garbage that would otherwise have been collected sooner.
 *
 * What the mount daemon kept resident beyond that was young-generation space: two semi-spaces of
 * up to 16 MiB by default. 4 MiB semi-spaces took its peak resident memory from 259 to 222 MB over
 * the same workload.
 *
 * `xcloud` no longer starts with a larger heap. It once needed one: the daemon's TLS records
 * started a full marking every few dozen megabytes read; on today's read path cold reads measure
 * the same with and without it (alternated runs). The larger heap only let garbage pile up to
 * 64 MB before the first full collection: about 20 MB more at the peak of a 4 GiB put
 * (bench/RESULTS.md).
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export type Program = 'xcloud' | 'xcore' | 'xbridge'

export const NODE_FLAGS: Record<Program, readonly string[]> = {
  xcloud: ['--max-semi-space-size=4'],
  xcore: ['--initial-heap-size=128'],
  xbridge: ['--initial-heap-size=128'],
}

const CLI_DIR = fileURLToPath(new URL('../cli/', import.meta.url))

/** The compiled entry point of a program. */
export function programPath(program: Program): string {
  return path.join(CLI_DIR, `${program}.js`)
}

/** Arguments for `spawn(process.execPath, ...)`: node flags, the program, then its own arguments. */
export function programArgv(program: Program, args: readonly string[]): string[] {
  return [...NODE_FLAGS[program], programPath(program), ...args]
}
