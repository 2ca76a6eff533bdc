/**
 * Operator routes under /api/v1/operator: every request needs an API key (checked in constant
 * time, domain/api-keys.ts) before any route reads anything, and after the rate limiter counted
 * it (a wrong or missing key is charged to the caller's address).
 */
import type { FastifyInstance } from 'fastify'
import { CONFLICTING_KEYS, presentedKey } from '../../domain/api-keys.ts'
import { bindQueryClient } from '../../domain/query-gate.ts'
import { ApiError } from '../../errors.ts'
import type { OperatorContext } from './context.ts'
import { dlqRoutes } from './dlq.ts'
import { epochRoutes } from './epochs.ts'
import { fleetRoutes } from './fleet.ts'
import { quarantineRoutes } from './quarantine.ts'
import { revenueRoutes } from './revenue.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The operator client whose key authenticated the request. */
    operatorClientId?: string
  }
}

export async function operatorPlugin(
  app: FastifyInstance,
  opts: {
    readonly context: OperatorContext
    readonly matchKey: (key: string | undefined) => string | undefined
  },
): Promise<void> {
  // preValidation, not onRequest: the rate limiter is a route-level onRequest hook, which runs
  // after a plugin's own onRequest hooks, so a key checked there was never charged and a client
  // guessing keys met 401 forever, never 429 (attack12 F1). preValidation still runs before the
  // query is validated or anything is read: an unauthenticated hostile query stays a 401.
  app.addHook('preValidation', async (request) => {
    const key = presentedKey(request.headers)
    if (key === CONFLICTING_KEYS)
      throw new ApiError('CONFLICTING_CREDENTIALS', 'x-api-key and Authorization: Bearer name different keys')
    const clientId = opts.matchKey(key)
    if (clientId === undefined) {
      throw new ApiError(
        'UNAUTHORIZED',
        request.headers['x-api-key'] === undefined && request.headers.authorization === undefined
          ? 'this route needs an operator API key'
          : 'the API key is not valid',
      )
    }
    request.operatorClientId = clientId
    // The request's InfluxDB queries count against this client's share of the gate.
    bindQueryClient(request.abandoned, clientId)
  })
  const ctx = opts.context
  await fleetRoutes(app, ctx)
  await revenueRoutes(app, ctx)
  await epochRoutes(app, ctx)
  await dlqRoutes(app, ctx)
  await quarantineRoutes(app, ctx)
}
