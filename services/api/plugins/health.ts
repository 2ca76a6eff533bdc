/**
 * `/healthz` (200 while every probe passes, 503 with the failing ones otherwise: InfluxDB, the DLQ
 * reader, and the chain node when the API has a contracts file) and `/metrics`.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { HealthProbe, QueryLoad } from '../ports.ts'

const HEALTH_SCHEMA = {
  type: 'object',
  required: ['ok', 'checks'],
  additionalProperties: false,
  properties: {
    ok: { type: 'boolean' },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'ok'],
        additionalProperties: false,
        properties: {
          name: { type: 'string' },
          ok: { type: 'boolean' },
          code: { type: 'string' },
          detail: { type: 'string' },
        },
      },
    },
  },
} as const

export const healthPlugin = fp(
  async (
    app: FastifyInstance,
    opts: {
      readonly probes: readonly HealthProbe[]
      readonly queryLoad?: () => QueryLoad
      /**
       * Each of /healthz and /metrics has a bucket of its own with this limit (config.ts
       * DEFAULT_PROBE_RATE_LIMIT_MAX): probes are never throttled by the API traffic of their
       * address, and a flood of /healthz (each pings InfluxDB and the chain) is still bounded.
       */
      readonly probeRateLimit: { readonly max: number; readonly timeWindow: number }
    },
  ) => {
    const registry = new Registry()
    const requests = new Counter({
      name: 'gridroot_api_requests_total',
      help: 'HTTP requests answered, by route and status',
      labelNames: ['route', 'status'],
      registers: [registry],
    })
    const duration = new Histogram({
      name: 'gridroot_api_request_duration_seconds',
      help: 'Time to answer, by route',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    })
    const { queryLoad } = opts
    if (queryLoad !== undefined) {
      // Read at scrape time: a query abandoned by its request leaves these at once (cancelled).
      new Gauge({
        name: 'gridroot_api_influx_queries_in_flight',
        help: 'InfluxDB queries this instance has open now (sent, answer not read to the end)',
        registers: [registry],
        collect() {
          this.set(queryLoad().inFlight)
        },
      })
      new Gauge({
        name: 'gridroot_api_influx_queries_waiting',
        help: 'InfluxDB queries waiting for a slot of the query gate (GRIDROOT_API_INFLUX_CONCURRENCY)',
        registers: [registry],
        collect() {
          this.set(queryLoad().waiting)
        },
      })
    }
    app.addHook('onResponse', async (request, reply) => {
      // The route pattern, never the raw URL: label values must stay few.
      const route = request.routeOptions.url ?? 'unmatched'
      requests.inc({ route, status: String(reply.statusCode) })
      duration.observe({ route }, reply.elapsedTime / 1000)
    })

    app.get(
      '/healthz',
      {
        config: { rateLimit: { ...opts.probeRateLimit } },
        schema: {
          tags: ['health'],
          summary:
            'Health: every dependency probed (InfluxDB, the DLQ reader, the chain node with a contracts file)',
          response: { 200: HEALTH_SCHEMA, 503: HEALTH_SCHEMA },
        },
      },
      async (_request, reply) => {
        const checks = await Promise.all(
          opts.probes.map(async (p) => {
            const result = await p.check()
            return {
              name: p.name,
              ok: result.ok,
              ...(result.code === undefined ? {} : { code: result.code }),
              ...(result.detail === undefined ? {} : { detail: result.detail }),
            }
          }),
        )
        const ok = checks.every((c) => c.ok)
        return reply.status(ok ? 200 : 503).send({ ok, checks })
      },
    )

    app.get(
      '/metrics',
      {
        config: { rateLimit: { ...opts.probeRateLimit } },
        schema: {
          tags: ['health'],
          summary: 'Prometheus metrics of the API',
          produces: ['text/plain'],
          response: { 200: { type: 'string' } },
        },
      },
      async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
    )
  },
)
