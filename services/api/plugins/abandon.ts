/**
 * `request.abandoned`: aborts when the response closes, whether the client went away first or
 * the answer was sent. Either way a query still running for the request has nobody waiting for
 * it (a sibling of an API_BUSY refusal, a client that hung up): routes hand this signal to the
 * stores, and the InfluxDB adapter cancels the query. fastify's own `request.signal` stops
 * listening once the response is sent, so it would miss the sibling case.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyRequest {
    abandoned: AbortSignal
  }
}

export const abandonPlugin = fp(async (app: FastifyInstance) => {
  app.decorateRequest('abandoned', null as unknown as AbortSignal)
  app.addHook('onRequest', async (request, reply) => {
    const controller = new AbortController()
    request.abandoned = controller.signal
    reply.raw.once('close', () => controller.abort(new Error('the request ended before its query')))
  })
})
