/**
 * JSON bodies parsed from their exact bytes. Host-signed requests sign the raw body, so the bytes
 * are kept beside the parsed value; parsing itself is fastify's (prototype-poisoning safe).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'

const rawBodies = new WeakMap<FastifyRequest, Buffer>()

export function rawBodyOf(req: FastifyRequest): Buffer {
  return rawBodies.get(req) ?? Buffer.alloc(0)
}

export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const raw = body as Buffer
    rawBodies.set(req, raw)
    // An empty body is "no body": routes without a body schema accept it, the others answer 400.
    if (raw.length === 0) return done(null, undefined)
    // fastify's parser (secure-json-parse) takes a Buffer as well as a string; its type says string.
    parse(req, raw as unknown as string, done)
  })
}
