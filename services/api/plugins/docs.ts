/** The OpenAPI 3 document generated from the route schemas (/docs/json) and its page (/docs). */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export const docsPlugin = fp(async (app: FastifyInstance) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'gridroot API',
        version: '1',
        description:
          'Revenue of new-energy device fleets: operators (API key), and, as their parts land, holders and auditors. ' +
          'Errors: {"error":{"code","message","hint"}} with the stable codes of services/api/errors.ts.',
      },
      components: {
        securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      },
      tags: [
        { name: 'operator', description: 'Fleet, revenue, epochs, DLQ and quarantine (API key)' },
        {
          name: 'auditor',
          description: 'Leaves, proofs and readings checked by verify; artifacts by hash (public)',
        },
        { name: 'health', description: 'Health and metrics' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  })
  // The UI's files come from the npm package and are served by this server: no CDN.
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: false } })
})
