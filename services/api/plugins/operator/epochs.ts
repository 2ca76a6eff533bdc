/**
 * Closed epochs with their pool totals, as the aggregator recorded them (`epoch_closed`,
 * `epoch_pool`). The on-chain state of each pool's root (pending, rejected, final,
 * distributed) joins here once the oracle's chain reader lands.
 */
import type { FastifyInstance } from 'fastify'
import { epochEndMs, epochOf, epochStartMs } from '../../../../core/epochs/grid.ts'
import { fleetClock } from '../../domain/fleet-status.ts'
import { ApiError } from '../../errors.ts'
import { errorResponses, MS, OPERATOR_SECURITY, POOL_ID, UNITS } from '../../schemas.ts'
import type { OperatorContext } from './context.ts'

/** Most epochs one request spans. */
export const MAX_EPOCHS_PER_PAGE = 500
const EPOCH = { type: 'integer', minimum: 0, maximum: 100_000_000 } as const

export async function epochRoutes(app: FastifyInstance, ctx: OperatorContext): Promise<void> {
  app.get<{ Querystring: { fromEpoch?: number; toEpoch?: number; limit: number } }>(
    '/epochs',
    {
      schema: {
        tags: ['operator'],
        summary: 'Closed epochs with their totals per pool, newest last',
        description:
          'Without fromEpoch/toEpoch: the newest `limit` closed epochs. openEpoch is the epoch of the fleet clock (still collecting data).',
        security: OPERATOR_SECURITY,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            fromEpoch: EPOCH,
            toEpoch: EPOCH,
            limit: { type: 'integer', minimum: 1, maximum: MAX_EPOCHS_PER_PAGE, default: 50 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['closedThrough', 'openEpoch', 'epochLengthMs', 'epochs'],
            additionalProperties: false,
            properties: {
              closedThrough: { type: 'integer', nullable: true },
              openEpoch: { type: 'integer', nullable: true },
              epochLengthMs: { type: 'integer' },
              epochs: {
                type: 'array',
                items: {
                  type: 'object',
                  required: [
                    'epoch',
                    'startMs',
                    'endMs',
                    'closedAtMs',
                    'watermarkMs',
                    'devices',
                    'revenueUnits',
                    'pools',
                  ],
                  additionalProperties: false,
                  properties: {
                    epoch: { type: 'integer' },
                    startMs: MS,
                    endMs: MS,
                    closedAtMs: MS,
                    watermarkMs: MS,
                    devices: { type: 'integer' },
                    revenueUnits: UNITS,
                    pools: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: [
                          'poolId',
                          'energyWh',
                          'revenueUnits',
                          'swaps',
                          'readings',
                          'quarantined',
                          'devices',
                        ],
                        additionalProperties: false,
                        properties: {
                          poolId: POOL_ID,
                          energyWh: { type: 'integer' },
                          revenueUnits: UNITS,
                          swaps: { type: 'integer' },
                          readings: { type: 'integer' },
                          quarantined: { type: 'integer' },
                          devices: { type: 'integer' },
                        },
                      },
                    },
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
      const [closedThrough, snapshot] = await Promise.all([ctx.epochs.closedThrough(), ctx.fleetSnapshot()])
      const clock = fleetClock([...snapshot.values()], ctx.online, ctx.now())
      const openEpoch = clock.asOfMs === undefined ? null : Math.max(0, epochOf(ctx.grid, clock.asOfMs))
      let from: number
      let to: number
      if (q.fromEpoch === undefined && q.toEpoch === undefined) {
        to = closedThrough ?? -1
        from = Math.max(0, to - q.limit + 1)
      } else {
        from = q.fromEpoch ?? 0
        to = q.toEpoch ?? from + q.limit - 1
        if (to < from)
          throw new ApiError('INVALID_RANGE', 'toEpoch must not be before fromEpoch', {
            details: { from, to },
          })
        if (to - from + 1 > q.limit) {
          throw new ApiError(
            'RANGE_TOO_LARGE',
            `${to - from + 1} epochs asked for, more than limit ${q.limit}`,
            {
              details: { maxEpochs: q.limit },
            },
          )
        }
      }
      const epochs =
        to < 0 ? [] : await ctx.epochs.closedEpochs(epochStartMs(ctx.grid, from), epochEndMs(ctx.grid, to))
      return {
        closedThrough: closedThrough ?? null,
        openEpoch,
        epochLengthMs: ctx.grid.epochLengthMs,
        epochs: epochs.map((e) => ({
          epoch: e.epoch,
          startMs: epochStartMs(ctx.grid, e.epoch),
          endMs: epochEndMs(ctx.grid, e.epoch),
          closedAtMs: e.closedAtMs,
          watermarkMs: e.watermarkMs,
          devices: e.devices,
          revenueUnits: e.pools.reduce((sum, p) => sum + p.revenueUnits, 0n).toString(),
          pools: e.pools.map((p) => ({ ...p, revenueUnits: p.revenueUnits.toString() })),
        })),
      }
    },
  )
}
