/**
 * Closed epochs with their pool totals, as the aggregator recorded them (`epoch_closed`,
 * `epoch_pool`), and, with a contracts file, each pool epoch's state in RevenueOracle (none,
 * pending, rejected, final). "Distributed" joins when the distributor's reader lands.
 */
import type { FastifyInstance } from 'fastify'
import { epochEndMs, epochOf, epochStartMs } from '../../../../core/epochs/grid.ts'
import { MAX_EPOCH_SPAN, planEpochSpan } from '../../domain/epoch-range.ts'
import { chainKey, type OnChainEpoch } from '../../ports.ts'
import { errorResponses, MS, OPERATOR_SECURITY, POOL_ID, UNITS } from '../../schemas.ts'
import type { OperatorContext } from './context.ts'

/** Most epochs one request spans. */
export const MAX_EPOCHS_PER_PAGE = MAX_EPOCH_SPAN
const EPOCH = { type: 'integer', minimum: 0, maximum: 100_000_000 } as const

export async function epochRoutes(app: FastifyInstance, ctx: OperatorContext): Promise<void> {
  app.get<{ Querystring: { fromEpoch?: number; toEpoch?: number; limit: number } }>(
    '/epochs',
    {
      schema: {
        tags: ['operator'],
        summary: 'Closed epochs with their totals per pool, newest last',
        description:
          'Without fromEpoch/toEpoch: the newest `limit` closed epochs. openEpoch is the epoch of the fleet clock (still collecting data). An epoch that starts after 2100-01-01 (the end of device time) is refused as INVALID_PARAMETER with details.maxEpoch.',
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
                          onChain: {
                            type: 'object',
                            description:
                              'RevenueOracle.epochRecord; absent without a contracts file or for pools it does not know',
                            required: [
                              'status',
                              'root',
                              'attempt',
                              'finalizesAtMs',
                              'leafCount',
                              'revenueUnits',
                            ],
                            additionalProperties: false,
                            properties: {
                              status: {
                                type: 'string',
                                enum: ['none', 'pending', 'rejected', 'final', 'distributed'],
                              },
                              root: { type: 'string', pattern: '^0x[0-9a-f]{64}$' },
                              attempt: { type: 'integer' },
                              finalizesAtMs: MS,
                              leafCount: { type: 'integer' },
                              revenueUnits: UNITS,
                            },
                          },
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
      const [closedThrough, asOfMs] = await Promise.all([
        ctx.epochs.closedThrough(request.abandoned),
        ctx.fleetClockMs(),
      ])
      const openEpoch = asOfMs === undefined ? null : Math.max(0, epochOf(ctx.grid, asOfMs))
      const { from, to } = planEpochSpan(ctx.grid, q, closedThrough)
      const epochs =
        to < 0
          ? []
          : await ctx.epochs.closedEpochs(
              epochStartMs(ctx.grid, from),
              epochEndMs(ctx.grid, to),
              request.abandoned,
            )
      const onChain =
        ctx.chain === undefined
          ? new Map<string, OnChainEpoch>()
          : await ctx.chain.records(
              epochs.flatMap((e) => e.pools.map((p) => ({ poolId: p.poolId, epoch: e.epoch }))),
            )
      const distributed = new Map<string, ReadonlySet<number>>()
      if (ctx.holders !== undefined) {
        const holders = ctx.holders
        const known = new Set(holders.pools())
        const pools = [...new Set(epochs.flatMap((e) => e.pools.map((p) => p.poolId)))].filter((p) =>
          known.has(p),
        )
        await Promise.all(pools.map(async (p) => distributed.set(p, await holders.distributedEpochs(p))))
      }
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
          pools: e.pools.map((p) => {
            const record = onChain.get(chainKey(p.poolId, e.epoch))
            return {
              ...p,
              revenueUnits: p.revenueUnits.toString(),
              ...(record === undefined
                ? {}
                : {
                    onChain: {
                      ...record,
                      status:
                        record.status === 'final' && distributed.get(p.poolId)?.has(e.epoch)
                          ? 'distributed'
                          : record.status,
                      revenueUnits: record.revenueUnits.toString(),
                    },
                  }),
            }
          }),
        })),
      }
    },
  )
}
