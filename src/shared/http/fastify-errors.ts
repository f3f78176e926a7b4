/**
 * One mapping from thrown errors to HTTP answers for every fastify server in the project.
 * XErrors keep their code and status; fastify's own validation, JSON and body-size errors become
 * stable XC_ codes with a 4xx; anything unexpected is logged and answered as XC_INTERNAL 500 (a
 * bug to fix, never a way to answer bad input).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { XError, type ErrorCode } from '../errors.js'

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'XC_BAD_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'XC_BAD_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'XC_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'XC_UNSUPPORTED_MEDIA',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'XC_BAD_REQUEST',
  FST_ERR_VALIDATION: 'XC_BAD_REQUEST',
}

export function toHttpError(err: unknown): XError {
  if (err instanceof XError) return err
  const fe = err as Partial<FastifyError> & { validation?: unknown; type?: string }
  if (fe?.validation) return new XError('XC_BAD_REQUEST', fe.message)
  const mapped = fe?.code ? FASTIFY_CODES[fe.code] : undefined
  if (mapped) return new XError(mapped, fe.message)
  // Node's JSON.parse errors surfaced by fastify's parser, or body-parser type errors.
  if (err instanceof SyntaxError) return new XError('XC_BAD_JSON', err.message)
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new XError(fe.statusCode === 413 ? 'XC_BODY_TOO_LARGE' : 'XC_BAD_REQUEST', fe.message)
  }
  return new XError('XC_INTERNAL', 'internal error')
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const x = toHttpError(err)
    if (x.code === 'XC_INTERNAL') req.log.error({ err }, 'unexpected error')
    void reply.status(x.status).send(x.toJSON())
  })
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
    const x = new XError('XC_ROUTE_NOT_FOUND', `no endpoint ${req.method} ${req.url.split('?')[0]}`)
    void reply.status(x.status).send(x.toJSON())
  })
}
