/**
 * Reads into buffers we choose, on a socket a server accepted.
 *
 * `net.Socket`'s `onread` option makes a socket's reads land in a caller's buffer: no new Buffer
 * per read, nothing through the stream machinery. Node offers it where sockets are created
 * (`net.connect`, `tls.connect`), not for sockets a server accepts, although they read the same
 * way once the socket holds the buffer and the callback. So we learn the (private) property keys
 * under which a socket keeps them from one made with the option, and set them on the accepted
 * socket. If this Node keeps them differently, `readIntoBuffers` returns false and the socket is
 * untouched; callers then stay on the ordinary path.
 */
import net from 'node:net'

interface Keys {
  buffer: symbol
  generator: symbol
  callback: symbol
}

let keys: Keys | null | undefined

function probe(): Keys | null {
  if (keys !== undefined) return keys
  const generator = (): Buffer => Buffer.alloc(1)
  const callback = (): void => {}
  let found: Keys | null = null
  try {
    // `onread` is in Node's documentation for net.Socket, not in its typings for the constructor.
    const s = new net.Socket({ onread: { buffer: generator, callback } } as net.SocketConstructorOpts)
    const own = Object.getOwnPropertySymbols(s)
    const at = (v: unknown): symbol | undefined => own.find((k) => (s as unknown as Record<symbol, unknown>)[k] === v)
    const g = at(generator)
    const c = at(callback)
    // With a generator, the buffer slot holds `true` until the handle asks for the first buffer.
    const b = own.find((k) => k !== g && k !== c && (s as unknown as Record<symbol, unknown>)[k] === true && /buffer/i.test(String(k.description)))
    s.destroy()
    if (g && c && b) found = { buffer: b, generator: g, callback: c }
  } catch {
    found = null
  }
  keys = found
  return found
}

/** Whether this Node lets accepted sockets read into our buffers. */
export function userBufferReadsAvailable(): boolean {
  return probe() !== null
}

/**
 * From now on, `socket`'s incoming bytes go into `next()` (asked again after every read; never
 * empty) and `onRead(n)` is told how many arrived there; returning false pauses the socket, as
 * `socket.pause()` does; `socket.resume()` goes on. No 'data' events follow. Bytes the socket had
 * already read are handed to `pending` first. False (and nothing changed) if unavailable.
 */
export function readIntoBuffers(socket: net.Socket, next: () => Buffer, onRead: (n: number) => boolean | void, pending: (chunk: Buffer) => void): boolean {
  const k = probe()
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle
  if (!k || typeof handle?.useUserBuffer !== 'function') return false
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) pending(chunk)
  const slots = socket as unknown as Record<symbol, unknown>
  const first = next()
  slots[k.buffer] = first
  slots[k.generator] = next
  slots[k.callback] = onRead
  handle.useUserBuffer(first)
  return true
}
