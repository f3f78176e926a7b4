/**
 * A small JSON request body, read by hand: the host app has no body parsers (shard bodies are
 * streamed by their route), so the one JSON route reads its own. The size cap holds whether or not
 * the sender declares a Content-Length; bad input is a 4xx with a stable code (XC_BODY_TOO_LARGE,
 * XC_BAD_JSON, XC_UNSUPPORTED_MEDIA), never a 5xx.
 */
import type { IncomingMessage } from 'node:http'
import { xerr } from '../../shared/errors.js'

export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type']
  if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
    return Promise.reject(xerr('XC_UNSUPPORTED_MEDIA', 'the body must be application/json'))
  }
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(xerr('XC_BODY_TOO_LARGE', `the body is limited to ${limit} bytes`))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let received = 0
    const cleanup = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    const fail = (err: unknown): void => {
      cleanup()
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      received += chunk.length
      if (received > limit) {
        // Stop reading; the route answers and the connection closes (the rest is never read).
        req.pause()
        fail(xerr('XC_BODY_TOO_LARGE', `the body is limited to ${limit} bytes`))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      cleanup()
      const text = Buffer.concat(chunks).toString('utf8')
      if (text.trim() === '') return reject(xerr('XC_BAD_JSON', 'the body is empty'))
      try {
        resolve(JSON.parse(text))
      } catch {
        reject(xerr('XC_BAD_JSON'))
      }
    }
    const onError = (err: Error): void => fail(err)
    const onClose = (): void => {
      if (!req.complete) fail(xerr('XC_BAD_REQUEST', 'the request was aborted before its body arrived'))
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}
