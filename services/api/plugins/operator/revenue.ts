/**
 * Revenue and energy per pool, asset class or device, over a time range at a chosen resolution.
 * InfluxDB sums the per-interval points into windows (a request never pulls raw readings), and
 * the plan is refused before any query when ranges × series exceed the limits.
 */
import type { FastifyInstance } from 'fastify'
import type { AssetClass } from '../../../../core/telemetry/types.ts'
import { parseDurationMs } from '../../../../core/units/duration.ts'
import { assertKnownPools, registryPools } from '../../domain/known-pools.ts'
import { parseRange, planWindows } from '../../domain/time-window.ts'
import { ApiError } from '../../errors.ts'
import type { RevenueGroupBy, SeriesFilter } from '../../ports.ts'
import {
  ASSET_CLASS,
  DATE_TIME,
  DEVICE_ID,
  errorResponses,
  MS,
  OPERATOR_SECURITY,
  POOL_ID,
  UNITS,
} from '../../schemas.ts'
import type { OperatorContext } from './context.ts'

/** The resolutions offered; each must also be a multiple of the configured interval. */
export const RESOLUTIONS = ['1m', '5m', '15m', '30m', '1h', '3h', '6h', '12h', '1d', '7d'] as const

interface RevenueQuery {
  groupBy: RevenueGroupBy
  from: string
  to: string
  resolution: (typeof RESOLUTIONS)[number]
  pool?: string[]
  class?: AssetClass[]
  device?: string[]
}

export async function revenueRoutes(app: FastifyInstance, ctx: OperatorContext): Promise<void> {
  // Only resolutions on the interval grid are offered: the schema (and so the OpenAPI document)
  // lists exactly what the route takes.
  const resolutions = RESOLUTIONS.filter((r) => parseDurationMs(r) % ctx.grid.intervalMs === 0)

  app.get<{ Querystring: RevenueQuery }>(
    '/revenue',
    {
      schema: {
        tags: ['operator'],
        summary:
          'Revenue and energy over time per pool, asset class or device (summed in InfluxDB per window)',
        description:
          'Windows start at genesis + k·resolution (GRIDROOT_EPOCH_GENESIS), so with daily epochs a 1d window is an epoch. ' +
          'from is rounded down and to up to whole windows; to is exclusive. Late data counts in the window it was booked into (adjustments). ' +
          'Revenue is in base units of the payment token (6 decimals) as decimal strings.',
        security: OPERATOR_SECURITY,
        querystring: {
          type: 'object',
          required: ['groupBy', 'from', 'to', 'resolution'],
          additionalProperties: false,
          properties: {
            groupBy: { type: 'string', enum: ['pool', 'class', 'device'] },
            from: DATE_TIME,
            to: DATE_TIME,
            resolution: {
              type: 'string',
              enum: resolutions,
              description: 'window length: the multiples of the interval (GRIDROOT_INTERVAL) offered',
            },
            pool: { type: 'array', items: POOL_ID, maxItems: 32, uniqueItems: true },
            class: { type: 'array', items: ASSET_CLASS, maxItems: 3, uniqueItems: true },
            device: {
              type: 'array',
              items: DEVICE_ID,
              maxItems: ctx.limits.maxDevicesPerRequest,
              uniqueItems: true,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['groupBy', 'fromMs', 'toMs', 'resolutionMs', 'windows', 'series'],
            additionalProperties: false,
            properties: {
              groupBy: { type: 'string' },
              fromMs: MS,
              toMs: MS,
              resolutionMs: { type: 'integer' },
              windows: { type: 'integer' },
              series: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['key', 'totalRevenueUnits', 'totalEnergyWh', 'points'],
                  additionalProperties: false,
                  properties: {
                    key: { type: 'string', description: 'pool id, asset class or device id' },
                    totalRevenueUnits: UNITS,
                    totalEnergyWh: { type: 'integer' },
                    points: {
                      type: 'object',
                      description: 'columns of the windows with data, ascending',
                      required: ['startMs', 'energyWh', 'revenueUnits', 'swaps'],
                      additionalProperties: false,
                      properties: {
                        startMs: { type: 'array', items: MS },
                        energyWh: { type: 'array', items: { type: 'integer' } },
                        revenueUnits: { type: 'array', items: UNITS },
                        swaps: { type: 'array', items: { type: 'integer' } },
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
      const filter: { -readonly [K in keyof SeriesFilter]: SeriesFilter[K] } = {}
      if (q.pool !== undefined) {
        assertKnownPools(ctx.registry, q.pool)
        filter.pools = q.pool
      }
      if (q.class !== undefined) filter.classes = q.class
      if (q.device !== undefined) {
        const unknown = q.device.filter((d) => ctx.registry.get(d) === undefined)
        if (unknown.length > 0) {
          throw new ApiError('UNKNOWN_DEVICE', `unknown device ${unknown.join(', ')}`, {
            details: { unknown },
          })
        }
        filter.devices = q.device
      }
      if (q.groupBy === 'device' && filter.devices === undefined) {
        throw new ApiError('DEVICES_REQUIRED', 'groupBy=device needs device=<id> parameters', {
          details: { maxDevices: ctx.limits.maxDevicesPerRequest },
        })
      }
      const series =
        q.groupBy === 'device'
          ? (filter.devices?.length ?? 0)
          : q.groupBy === 'class'
            ? (filter.classes?.length ?? 3)
            : (filter.pools?.length ?? registryPools(ctx.registry).size)
      const plan = planWindows(
        ctx.grid,
        ctx.limits,
        parseRange(q.from, q.to, ctx.limits),
        parseDurationMs(q.resolution),
        series,
      )
      const result = await ctx.revenue.revenueSeries(plan, q.groupBy, filter, request.abandoned)
      return {
        groupBy: q.groupBy,
        fromMs: plan.fromMs,
        toMs: plan.toMs,
        resolutionMs: plan.resolutionMs,
        windows: plan.windows,
        series: result.map((s) => ({
          key: s.key,
          totalRevenueUnits: s.points.reduce((sum, p) => sum + p.revenueUnits, 0n).toString(),
          totalEnergyWh: s.points.reduce((sum, p) => sum + p.energyWh, 0),
          points: {
            startMs: s.points.map((p) => p.startMs),
            energyWh: s.points.map((p) => p.energyWh),
            revenueUnits: s.points.map((p) => p.revenueUnits.toString()),
            swaps: s.points.map((p) => p.swaps),
          },
        })),
      }
    },
  )
}
