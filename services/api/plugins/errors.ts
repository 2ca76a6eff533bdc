/**
 * Every failure leaves the API in the one error shape (errors.ts): validation failures, auth,
 * rate limits, unknown routes, stores that are down, bugs.
 */
import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { RetryableError } from '../../../core/errors/base.ts'
import { ApiError, errorBody } from '../errors.ts'
import { QueryAbandonedError, StoreQueryError } from '../ports.ts'

export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((error: FastifyError | ApiError | Error, request, reply) => {
    if (error instanceof ApiError) {
      if (error.code === 'RATE_LIMITED') request.log.info({ code: error.code }, 'rate limited')
      if (error.code === 'API_BUSY') {
        request.log.warn({ code: error.code, ...error.details }, 'InfluxDB queries at their bound: shed')
        reply.header('retry-after', String(error.details.retryAfterS ?? 1))
      }
      return reply
        .status(error.statusCode)
        .send(errorBody(error.code, error.shortMessage, { ...error.details }))
    }
    const fastifyError = error as FastifyError
    if (fastifyError.validation !== undefined) {
      const issues = fastifyError.validation.map((v) => ({
        at: `${fastifyError.validationContext ?? 'request'}${v.instancePath || ''}`,
        message: v.message ?? 'invalid',
        ...(v.params && 'additionalProperty' in v.params ? { parameter: v.params.additionalProperty } : {}),
      }))
      return reply.status(400).send(errorBody('INVALID_PARAMETER', fastifyError.message, { issues }))
    }
    if (error instanceof QueryAbandonedError) {
      // The client hung up (the only way this reaches a handler): the query was cancelled and
      // there is nobody to answer. No response, so no 5xx counted as an outage either.
      request.log.info({ code: error.code }, 'request abandoned by its client: InfluxDB query cancelled')
      reply.hijack()
      reply.raw.destroy()
      return
    }
    if (error instanceof StoreQueryError) {
      // Not an outage: InfluxDB answered. A 503 here would tell the operator to check InfluxDB
      // and count as "upstream down" in the metrics (attack12 F2).
      request.log.error(
        {
          err: error,
          code: 'QUERY_FAILED',
          storeStatus: error.storeStatus,
          storeMessage: error.storeMessage,
        },
        'InfluxDB refused the query',
      )
      return reply.status(500).send(errorBody('QUERY_FAILED', 'InfluxDB refused the query the API built'))
    }
    if (error instanceof RetryableError) {
      request.log.warn({ err: error }, 'upstream unavailable')
      return reply.status(503).send(errorBody('UPSTREAM_UNAVAILABLE', error.shortMessage))
    }
    const status = fastifyError.statusCode
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send(
        errorBody('BODY_TOO_LARGE', 'the request body is too large', {
          maxBytes: app.initialConfig.bodyLimit,
        }),
      )
    }
    if (status !== undefined && status >= 400 && status < 500) {
      // fastify's own refusals (body too large, wrong content type, bad JSON): the caller's to fix.
      return reply
        .status(400)
        .send(errorBody('INVALID_PARAMETER', error.message, { fastifyCode: fastifyError.code }))
    }
    request.log.error({ err: error }, 'request failed')
    return reply.status(500).send(errorBody('INTERNAL', 'the request failed inside the API'))
  })
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`))
  })
})
