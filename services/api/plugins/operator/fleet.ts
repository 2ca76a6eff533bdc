/** Fleet status, pools and the device registry with each device's last-seen time. */
import type { FastifyInstance } from 'fastify'
import type { AssetClass } from '../../../../core/telemetry/types.ts'
import { deviceStatus, fleetClock, summarizeFleet } from '../../domain/fleet-status.ts'
import { assertKnownPools } from '../../domain/known-pools.ts'
import { parseRange } from '../../domain/time-window.ts'
import { ApiError } from '../../errors.ts'
import {
  ASSET_CLASS,
  COUNTS,
  DATE_TIME,
  DEVICE_ID,
  errorResponses,
  MS,
  OPERATOR_SECURITY,
  POOL_ID,
  pagingQuery,
} from '../../schemas.ts'
import type { OperatorContext } from './context.ts'

const DAY_MS = 86_400_000

const BY_CLASS = {
  type: 'object',
  required: ['charger', 'pv', 'swap'],
  additionalProperties: false,
  properties: { charger: COUNTS, pv: COUNTS, swap: COUNTS },
} as const

const REASON_COUNTS = { type: 'object', additionalProperties: { type: 'integer' } } as const

const DEVICE = {
  type: 'object',
  required: [
    'deviceId',
    'assetClass',
    'poolId',
    'ratedPowerW',
    'tariffId',
    'publicKey',
    'lastSeenMs',
    'lastSeq',
    'online',
  ],
  additionalProperties: false,
  properties: {
    deviceId: DEVICE_ID,
    assetClass: ASSET_CLASS,
    poolId: POOL_ID,
    ratedPowerW: { type: 'integer' },
    tariffId: { type: 'string' },
    publicKey: { type: 'string', description: 'ed25519 public key, hex of 32 bytes' },
    lastSeenMs: { ...MS, nullable: true, description: 'device time of the newest accounted reading' },
    lastSeq: { type: 'integer', nullable: true },
    online: { type: 'boolean' },
  },
} as const

export async function fleetRoutes(app: FastifyInstance, ctx: OperatorContext): Promise<void> {
  const clockNow = async () => {
    const snapshot = await ctx.fleetSnapshot()
    return { snapshot, clock: fleetClock([...snapshot.values()], ctx.online, ctx.now()) }
  }
  const describe = (
    d: NonNullable<ReturnType<OperatorContext['registry']['get']>>,
    status: ReturnType<typeof deviceStatus>,
  ) => ({
    deviceId: d.deviceId,
    assetClass: d.assetClass,
    poolId: d.poolId,
    ratedPowerW: d.ratedPowerW,
    tariffId: d.tariffId,
    publicKey: d.publicKey,
    lastSeenMs: status.lastSeenMs ?? null,
    lastSeq: status.lastSeq ?? null,
    online: status.online,
  })

  app.get(
    '/fleet',
    {
      schema: {
        tags: ['operator'],
        summary: 'Fleet status: devices online by class and pool, anomalies of the last 24 h by reason',
        security: OPERATOR_SECURITY,
        response: {
          200: {
            type: 'object',
            required: ['asOfMs', 'clock', 'onlineWindowMs', 'total', 'byClass', 'byPool', 'anomalies'],
            additionalProperties: false,
            properties: {
              asOfMs: { ...MS, nullable: true, description: 'the "now" online is measured against' },
              clock: { type: 'string', enum: ['fleet', 'wall'] },
              onlineWindowMs: { type: 'integer' },
              total: COUNTS,
              byClass: BY_CLASS,
              byPool: { type: 'object', additionalProperties: COUNTS },
              anomalies: {
                type: 'object',
                required: ['fromMs', 'toMs', 'byReason'],
                additionalProperties: false,
                properties: { fromMs: MS, toMs: MS, byReason: REASON_COUNTS },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { snapshot, clock } = await clockNow()
      const summary = summarizeFleet(ctx.registry.devices(), snapshot, clock)
      const toMs = (clock.asOfMs ?? ctx.now()) + 1
      const fromMs = toMs - DAY_MS
      const byReason = await ctx.quarantine.countsByReason({ range: { fromMs, toMs } }, request.abandoned)
      return {
        asOfMs: summary.asOfMs ?? null,
        clock: ctx.online.clock,
        onlineWindowMs: ctx.online.windowMs,
        total: summary.total,
        byClass: summary.byClass,
        byPool: summary.byPool,
        anomalies: { fromMs, toMs, byReason },
      }
    },
  )

  app.get(
    '/clock',
    {
      schema: {
        tags: ['operator'],
        summary:
          "The fleet clock: the newest reading's device time (from the aggregator's partition watermarks), or the server's clock",
        description:
          'What /fleet measures online against and /epochs takes the open epoch from, without reading every device: a dashboard asks this first to place its charts.',
        security: OPERATOR_SECURITY,
        response: {
          200: {
            type: 'object',
            required: ['asOfMs', 'clock'],
            additionalProperties: false,
            properties: {
              asOfMs: { ...MS, nullable: true, description: 'null: no device seen yet' },
              clock: { type: 'string', enum: ['fleet', 'wall'] },
            },
          },
          ...errorResponses,
        },
      },
    },
    async () => ({ asOfMs: (await ctx.fleetClockMs()) ?? null, clock: ctx.online.clock }),
  )

  app.get(
    '/pools',
    {
      schema: {
        tags: ['operator'],
        summary: 'Pools of the registry with their devices by asset class',
        security: OPERATOR_SECURITY,
        response: {
          200: {
            type: 'object',
            required: ['pools'],
            additionalProperties: false,
            properties: {
              pools: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['poolId', 'devices', 'byClass'],
                  additionalProperties: false,
                  properties: {
                    poolId: POOL_ID,
                    devices: { type: 'integer' },
                    byClass: {
                      type: 'object',
                      required: ['charger', 'pv', 'swap'],
                      additionalProperties: false,
                      properties: {
                        charger: { type: 'integer' },
                        pv: { type: 'integer' },
                        swap: { type: 'integer' },
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
    async () => {
      const pools = new Map<string, { devices: number; byClass: Record<AssetClass, number> }>()
      for (const d of ctx.registry.devices()) {
        const p = pools.get(d.poolId) ?? { devices: 0, byClass: { charger: 0, pv: 0, swap: 0 } }
        pools.set(d.poolId, p)
        p.devices++
        p.byClass[d.assetClass]++
      }
      return {
        pools: [...pools].sort(([a], [b]) => (a < b ? -1 : 1)).map(([poolId, p]) => ({ poolId, ...p })),
      }
    },
  )

  app.get<{
    Querystring: { pool?: string; class?: AssetClass; online?: boolean; offset: number; limit: number }
  }>(
    '/devices',
    {
      schema: {
        tags: ['operator'],
        summary: 'The device registry, paged, with last seen and online',
        security: OPERATOR_SECURITY,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            pool: POOL_ID,
            class: ASSET_CLASS,
            online: { type: 'boolean' },
            ...pagingQuery(ctx.limits.maxPageSize),
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['total', 'offset', 'limit', 'asOfMs', 'devices'],
            additionalProperties: false,
            properties: {
              total: { type: 'integer', description: 'devices matching the filters' },
              offset: { type: 'integer' },
              limit: { type: 'integer' },
              asOfMs: { ...MS, nullable: true },
              devices: { type: 'array', items: DEVICE },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const q = request.query
      if (q.pool !== undefined) assertKnownPools(ctx.registry, [q.pool])
      const { snapshot, clock } = await clockNow()
      const matching = [...ctx.registry.devices()]
        .filter(
          (d) =>
            (q.pool === undefined || d.poolId === q.pool) &&
            (q.class === undefined || d.assetClass === q.class),
        )
        .map((d) => ({ d, status: deviceStatus(snapshot.get(d.deviceId), clock) }))
        .filter((e) => q.online === undefined || e.status.online === q.online)
        .sort((a, b) => (a.d.deviceId < b.d.deviceId ? -1 : 1))
      return {
        total: matching.length,
        offset: q.offset,
        limit: q.limit,
        asOfMs: clock.asOfMs ?? null,
        devices: matching.slice(q.offset, q.offset + q.limit).map((e) => describe(e.d, e.status)),
      }
    },
  )

  app.get<{ Params: { deviceId: string }; Querystring: { from?: string; to?: string } }>(
    '/devices/:deviceId',
    {
      schema: {
        tags: ['operator'],
        summary:
          'One device: its registry entry, last seen, online, and its anomalies by reason over a range (default the last 24 h)',
        security: OPERATOR_SECURITY,
        params: { type: 'object', required: ['deviceId'], properties: { deviceId: DEVICE_ID } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { from: DATE_TIME, to: DATE_TIME },
        },
        response: {
          200: {
            type: 'object',
            required: ['device', 'anomalies'],
            additionalProperties: false,
            properties: {
              device: DEVICE,
              anomalies: {
                type: 'object',
                required: ['fromMs', 'toMs', 'byReason'],
                additionalProperties: false,
                properties: { fromMs: MS, toMs: MS, byReason: REASON_COUNTS },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const device = ctx.registry.get(request.params.deviceId)
      if (device === undefined) {
        throw new ApiError('UNKNOWN_DEVICE', `device ${request.params.deviceId} is not in the registry`)
      }
      const { snapshot, clock } = await clockNow()
      const { from, to } = request.query
      if ((from === undefined) !== (to === undefined)) {
        throw new ApiError('INVALID_RANGE', 'send both from and to, or neither (the last 24 h)')
      }
      const range =
        from !== undefined && to !== undefined
          ? parseRange(from, to, ctx.limits)
          : { fromMs: (clock.asOfMs ?? ctx.now()) + 1 - DAY_MS, toMs: (clock.asOfMs ?? ctx.now()) + 1 }
      const byReason = await ctx.quarantine.countsByReason(
        { range, devices: [device.deviceId] },
        request.abandoned,
      )
      return {
        device: describe(device, deviceStatus(snapshot.get(device.deviceId), clock)),
        anomalies: { ...range, byReason },
      }
    },
  )
}
