/** Quarantined readings (InfluxDB `quarantine`): counts by reason and pages, newest first. */
import type { FastifyInstance } from 'fastify'
import type { AssetClass } from '../../../../core/telemetry/types.ts'
import { assertKnownPools } from '../../domain/known-pools.ts'
import { parseRange } from '../../domain/time-window.ts'
import { ApiError } from '../../errors.ts'
import type { QuarantineFilter } from '../../ports.ts'
import {
  ASSET_CLASS,
  DATE_TIME,
  DEVICE_ID,
  errorResponses,
  MS,
  OPERATOR_SECURITY,
  POOL_ID,
  REASON,
} from '../../schemas.ts'
import type { OperatorContext } from './context.ts'

interface QuarantineQuery {
  from: string
  to: string
  pool?: string
  class?: AssetClass
  device?: string
  reason?: string
}

export async function quarantineRoutes(app: FastifyInstance, ctx: OperatorContext): Promise<void> {
  const filterProperties = {
    from: DATE_TIME,
    to: DATE_TIME,
    pool: POOL_ID,
    class: ASSET_CLASS,
    device: DEVICE_ID,
    reason: REASON,
  } as const
  const toFilter = (q: QuarantineQuery): QuarantineFilter => {
    if (q.device !== undefined && ctx.registry.get(q.device) === undefined) {
      throw new ApiError('UNKNOWN_DEVICE', `device ${q.device} is not in the registry`)
    }
    if (q.pool !== undefined) assertKnownPools(ctx.registry, [q.pool])
    return {
      range: parseRange(q.from, q.to, ctx.limits),
      ...(q.pool === undefined ? {} : { pools: [q.pool] }),
      ...(q.class === undefined ? {} : { classes: [q.class] }),
      ...(q.device === undefined ? {} : { devices: [q.device] }),
      ...(q.reason === undefined ? {} : { reasons: [q.reason] }),
    }
  }

  app.get<{ Querystring: QuarantineQuery }>(
    '/quarantine/counts',
    {
      schema: {
        tags: ['operator'],
        summary: 'Quarantined readings by reason over a range (device time)',
        security: OPERATOR_SECURITY,
        querystring: {
          type: 'object',
          required: ['from', 'to'],
          additionalProperties: false,
          properties: filterProperties,
        },
        response: {
          200: {
            type: 'object',
            required: ['fromMs', 'toMs', 'total', 'byReason'],
            additionalProperties: false,
            properties: {
              fromMs: MS,
              toMs: MS,
              total: { type: 'integer' },
              byReason: { type: 'object', additionalProperties: { type: 'integer' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const filter = toFilter(request.query)
      const byReason = await ctx.quarantine.countsByReason(filter, request.abandoned)
      return { ...filter.range, total: Object.values(byReason).reduce((a, b) => a + b, 0), byReason }
    },
  )

  app.get<{ Querystring: QuarantineQuery & { offset: number; limit: number } }>(
    '/quarantine',
    {
      schema: {
        tags: ['operator'],
        summary: 'Quarantined readings, newest first, with reason, detail and the reading itself',
        security: OPERATOR_SECURITY,
        querystring: {
          type: 'object',
          required: ['from', 'to'],
          additionalProperties: false,
          properties: {
            ...filterProperties,
            offset: { type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 0 },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: Math.min(200, ctx.limits.maxPageSize),
              default: 50,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['fromMs', 'toMs', 'offset', 'limit', 'readings'],
            additionalProperties: false,
            properties: {
              fromMs: MS,
              toMs: MS,
              offset: { type: 'integer' },
              limit: { type: 'integer' },
              readings: {
                type: 'array',
                items: {
                  type: 'object',
                  required: [
                    'timeMs',
                    'deviceId',
                    'poolId',
                    'assetClass',
                    'reason',
                    'seq',
                    'registerWh',
                    'detail',
                  ],
                  additionalProperties: false,
                  properties: {
                    timeMs: MS,
                    deviceId: { type: 'string' },
                    poolId: { type: 'string' },
                    assetClass: { type: 'string' },
                    reason: { type: 'string' },
                    seq: { type: 'integer' },
                    registerWh: { type: 'integer' },
                    detail: { type: 'string' },
                    reading: { type: 'object', additionalProperties: true },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const q = request.query
      if (q.offset > ctx.limits.maxQuarantineOffset) {
        throw new ApiError(
          'OFFSET_TOO_DEEP',
          `offset ${q.offset} is deeper than ${ctx.limits.maxQuarantineOffset}`,
          {
            details: { maxOffset: ctx.limits.maxQuarantineOffset },
          },
        )
      }
      const filter = toFilter(q)
      const readings = await ctx.quarantine.page(filter, q.offset, q.limit, request.abandoned)
      return {
        ...filter.range,
        offset: q.offset,
        limit: q.limit,
        readings: readings.map((r) => {
          const { reading, ...rest } = r
          return typeof reading === 'object' && reading !== null && !Array.isArray(reading)
            ? { ...rest, reading }
            : rest
        }),
      }
    },
  )
}
