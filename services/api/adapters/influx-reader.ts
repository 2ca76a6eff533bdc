/**
 * The API's InfluxDB adapter: revenue series, last-seen times, quarantine pages and closed
 * epochs, each one Flux query that InfluxDB aggregates (adapters/flux.ts builds them). Values
 * are read as the raw CSV strings, so int64 sums (revenue) reach `bigint` without passing
 * through a float.
 */
import { HttpError } from '@influxdata/influxdb-client'
import { createInflux } from '../../../runtime/clients/influx.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { QueryGate } from '../domain/query-gate.ts'
import type {
  ClosedEpoch,
  DeviceLastSeen,
  EpochStore,
  FleetStateStore,
  HealthProbe,
  PoolEpochTotals,
  QuarantinedReading,
  QuarantineStore,
  RevenuePoint,
  RevenueSeries,
  RevenueStore,
} from '../ports.ts'
import { StoreQueryError, StoreUnavailableError } from '../ports.ts'
import {
  closedEpochsFlux,
  closedThroughFlux,
  GROUP_TAG,
  lastSeenFlux,
  newestWatermarkFlux,
  quarantineCountsFlux,
  quarantinePageFlux,
  revenueRollupFlux,
  revenueSeriesFlux,
} from './flux.ts'

type RawRow = Readonly<Record<string, string>>

export interface InfluxReader {
  readonly revenue: RevenueStore
  readonly fleet: FleetStateStore
  readonly quarantine: QuarantineStore
  readonly epochs: EpochStore
  readonly probe: HealthProbe
}

/** Statuses of an InfluxDB (or a proxy before it) that cannot take the query now: retry later. */
const UNAVAILABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504])

const int = (v: string | undefined) => (v === undefined || v === '' ? 0 : Number.parseInt(v, 10))
const big = (v: string | undefined) => (v === undefined || v === '' ? 0n : BigInt(v))

/**
 * Where pool and class series come from: `rollup` (the aggregator's `revenue_rollup` points) or
 * `devices` (summing every device's points per request: for data aggregated before rollups existed).
 */
export type RevenueSource = 'rollup' | 'devices'

export function createInfluxReader(
  endpoint: Endpoints['influx'],
  options: {
    readonly aggregatorGroup: string
    readonly revenueSource?: RevenueSource
    /** Every query passes it (domain/query-gate.ts); none: unbounded (tests of one request). */
    readonly gate?: QueryGate
  },
): InfluxReader {
  const revenueSource = options.revenueSource ?? 'rollup'
  const influx = createInflux(endpoint, { timeoutMs: 30_000 })
  const bucket = endpoint.bucket

  const rows = (query: string): Promise<RawRow[]> =>
    options.gate === undefined ? rowsNow(query) : options.gate.run(() => rowsNow(query))
  const rowsNow = async (query: string): Promise<RawRow[]> => {
    const out: RawRow[] = []
    try {
      for await (const { values, tableMeta } of influx.queryApi.iterateRows(query)) {
        const row: Record<string, string> = {}
        for (const [i, column] of tableMeta.columns.entries()) row[column.label] = values[i] ?? ''
        out.push(row)
      }
    } catch (error) {
      // InfluxDB answered: it refused the query (1.8 says 500 for a Flux compile error), unless
      // its status says it is overloaded or a proxy in front of it found no InfluxDB.
      if (error instanceof HttpError && !UNAVAILABLE_STATUSES.has(error.statusCode)) {
        throw new StoreQueryError(error.statusCode, error.body ?? error.message, error)
      }
      throw new StoreUnavailableError(error)
    }
    return out
  }

  const revenue: RevenueStore = {
    async revenueSeries(plan, groupBy, filter) {
      const tag = GROUP_TAG[groupBy]
      const bySeries = new Map<
        string,
        Map<number, { energyWh: number; revenueUnits: bigint; swaps: number }>
      >()
      const query =
        revenueSource === 'rollup' && groupBy !== 'device' && filter.devices === undefined
          ? revenueRollupFlux(bucket, options.aggregatorGroup, plan, groupBy, filter)
          : revenueSeriesFlux(bucket, plan, groupBy, filter)
      for (const r of await rows(query)) {
        const key = r[tag] ?? ''
        const startMs = Date.parse(r._start ?? '')
        const series = bySeries.get(key) ?? new Map()
        bySeries.set(key, series)
        const point = series.get(startMs) ?? { energyWh: 0, revenueUnits: 0n, swaps: 0 }
        series.set(startMs, point)
        if (r._field === 'revenueUnits') point.revenueUnits = big(r._value)
        else if (r._field === 'energyWh') point.energyWh = int(r._value)
        else if (r._field === 'swaps') point.swaps = int(r._value)
      }
      return [...bySeries]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(
          ([key, points]): RevenueSeries => ({
            key,
            points: [...points]
              .sort(([a], [b]) => a - b)
              .map(([startMs, p]): RevenuePoint => ({ startMs, ...p })),
          }),
        )
    },
  }

  const fleet: FleetStateStore = {
    async lastSeen(devices) {
      const byDevice = new Map<string, { lastSeenMs: number; lastSeq: number }>()
      for (const r of await rows(lastSeenFlux(bucket, options.aggregatorGroup, devices))) {
        const deviceId = r.device ?? ''
        const entry = byDevice.get(deviceId) ?? { lastSeenMs: 0, lastSeq: 0 }
        byDevice.set(deviceId, entry)
        if (r._field === 'lastTs') entry.lastSeenMs = int(r._value)
        else entry.lastSeq = int(r._value)
      }
      return [...byDevice].map(([deviceId, e]): DeviceLastSeen => ({ deviceId, ...e }))
    },
    async newestWatermarkMs() {
      const [newest] = await rows(newestWatermarkFlux(bucket, options.aggregatorGroup))
      return newest === undefined || newest._value === undefined || newest._value === ''
        ? undefined
        : int(newest._value)
    },
  }

  const quarantine: QuarantineStore = {
    async page(filter, offset, limit) {
      return (await rows(quarantinePageFlux(bucket, filter, offset, limit))).map(
        (r): QuarantinedReading => ({
          timeMs: Math.floor(Date.parse(r._time ?? '')),
          deviceId: r.device ?? '',
          poolId: r.pool ?? '',
          assetClass: r.class ?? '',
          reason: r.reason ?? '',
          seq: int(r.seq),
          registerWh: int(r.registerWh),
          detail: r.detail ?? '',
          reading: parseJson(r.reading),
        }),
      )
    },
    async countsByReason(filter) {
      const out: Record<string, number> = {}
      for (const r of await rows(quarantineCountsFlux(bucket, filter))) out[r.reason ?? ''] = int(r._value)
      return out
    },
  }

  const epochs: EpochStore = {
    async closedThrough() {
      const [first] = await rows(closedThroughFlux(bucket))
      return first === undefined ? undefined : int(first._value)
    },
    async closedEpochs(fromMs, toMs) {
      const [markers, pools] = await Promise.all([
        rows(closedEpochsFlux(bucket, 'epoch_closed', fromMs, toMs)),
        rows(closedEpochsFlux(bucket, 'epoch_pool', fromMs, toMs)),
      ])
      const poolsByEpoch = new Map<number, PoolEpochTotals[]>()
      for (const r of pools) {
        const epoch = int(r.epoch)
        const list = poolsByEpoch.get(epoch) ?? []
        poolsByEpoch.set(epoch, list)
        list.push({
          poolId: r.pool ?? '',
          energyWh: int(r.energyWh),
          revenueUnits: big(r.revenueUnits),
          swaps: int(r.swaps),
          readings: int(r.readings),
          quarantined: int(r.quarantined),
          devices: int(r.devices),
        })
      }
      return markers
        .map(
          (r): ClosedEpoch => ({
            epoch: int(r.epoch),
            closedAtMs: int(r.closedAtMs),
            watermarkMs: int(r.watermarkMs),
            devices: int(r.devices),
            pools: (poolsByEpoch.get(int(r.epoch)) ?? []).sort((a, b) => (a.poolId < b.poolId ? -1 : 1)),
          }),
        )
        .sort((a, b) => a.epoch - b.epoch)
    },
  }

  const probe: HealthProbe = {
    name: 'influxdb',
    async check() {
      try {
        const response = await fetch(new URL('/ping', endpoint.url), { signal: AbortSignal.timeout(2_000) })
        return response.ok ? { ok: true } : { ok: false, detail: `ping answered ${response.status}` }
      } catch (error) {
        return { ok: false, detail: error instanceof Error ? error.message : String(error) }
      }
    },
  }

  return { revenue, fleet, quarantine, epochs, probe }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
