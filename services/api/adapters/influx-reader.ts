/**
 * The API's InfluxDB adapter: revenue series, last-seen times, quarantine pages and closed
 * epochs, each one Flux query that InfluxDB aggregates (adapters/flux.ts builds them). Values
 * are read as the raw CSV strings, so int64 sums (revenue) reach `bigint` without passing
 * through a float.
 */
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { QueryGate } from '../domain/query-gate.ts'
import { createUpstreamBreaker } from '../domain/upstream-breaker.ts'
import { ApiError } from '../errors.ts'
import {
  type ClosedEpoch,
  type DeviceLastSeen,
  type EpochStore,
  type FleetStateStore,
  type HealthProbe,
  type PoolEpochTotals,
  type QuarantinedReading,
  type QuarantineStore,
  type QueryLoad,
  type RevenuePoint,
  type RevenueSeries,
  type RevenueStore,
  StoreUnavailableError,
} from '../ports.ts'
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
import { createFluxQuerier, type RawRow } from './flux-query.ts'

/** The /ping of the health check and of the breaker's recovery probe. */
const PING_TIMEOUT_MS = 2_000
/** How often the breaker probes InfluxDB while open. */
const RECOVERY_PROBE_MS = 1_000
/** GRIDROOT_API_INFLUX_TIMEOUT's default: a query that hears nothing this long pings InfluxDB. */
export const DEFAULT_INFLUX_SILENCE_MS = 5_000

export interface InfluxReader {
  readonly revenue: RevenueStore
  readonly fleet: FleetStateStore
  readonly quarantine: QuarantineStore
  readonly epochs: EpochStore
  readonly probe: HealthProbe
  /** InfluxDB queries open and waiting now (the /metrics gauges). */
  readonly load: () => QueryLoad
}

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
    /** A query not answered in this time is cancelled (UPSTREAM_UNAVAILABLE). */
    readonly queryTimeoutMs?: number
    /**
     * An open query that has heard nothing from InfluxDB this long makes the adapter ping it;
     * if the ping fails too, InfluxDB is down: every open query is cancelled at once
     * (UPSTREAM_UNAVAILABLE) instead of each waiting out the query timeout (default 5 s).
     */
    readonly silenceMs?: number
  },
): InfluxReader {
  const revenueSource = options.revenueSource ?? 'rollup'
  const querier = createFluxQuerier(endpoint, { timeoutMs: options.queryTimeoutMs ?? 30_000 })

  const bucket = endpoint.bucket

  const queryTimeoutMs = options.queryTimeoutMs ?? 30_000
  const ping = async (): Promise<{ readonly ok: boolean; readonly detail?: string }> => {
    try {
      const response = await fetch(new URL('/ping', endpoint.url), {
        signal: AbortSignal.timeout(PING_TIMEOUT_MS),
      })
      return response.ok ? { ok: true } : { ok: false, detail: `ping answered ${response.status}` }
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : String(error) }
    }
  }
  // Open while InfluxDB's ping fails: routes answer 503 at once (attack12d F5). A failed ping
  // starts a probe every second, which closes it as soon as InfluxDB answers again.
  const breaker = createUpstreamBreaker({ upstream: 'InfluxDB' })
  let recovery: ReturnType<typeof setInterval> | undefined
  let probing = false
  const check = async () => {
    const result = await ping()
    if (result.ok) {
      breaker.up()
      if (recovery !== undefined) clearInterval(recovery)
      recovery = undefined
    } else {
      breaker.down(result.detail ?? 'no answer')
      recovery ??= setInterval(() => {
        if (probing) return
        probing = true
        void check().finally(() => {
          probing = false
        })
      }, RECOVERY_PROBE_MS).unref()
    }
    return result
  }

  // The watchdog of open queries (issue 12 F3): a SIGSTOPped InfluxDB accepts connections and
  // answers nothing, so each query waited out its whole timeout (30 s, and another 2 s of ping)
  // before anyone learned InfluxDB was down. A query silent for `silenceMs` is a question to
  // InfluxDB's ping, not a verdict: a heavy query on a live InfluxDB goes on (then API_BUSY at
  // its timeout); one on an InfluxDB that does not even ping is cancelled with all the others.
  const silenceMs = options.silenceMs ?? DEFAULT_INFLUX_SILENCE_MS
  let watchdog: ReturnType<typeof setInterval> | undefined
  let watching = false
  let lastPingOkMs = 0
  const watch = async () => {
    const silentMs = querier.silentForMs()
    if (querier.inFlight() === 0) {
      clearInterval(watchdog)
      watchdog = undefined
      return
    }
    // A ping answered since the silence began says InfluxDB is alive: ask again only after another
    // silenceMs, not on every tick of a long query.
    if (silentMs < silenceMs || Date.now() - lastPingOkMs < silenceMs) return
    const probed = await check()
    if (probed.ok) {
      lastPingOkMs = Date.now()
      return
    }
    querier.abortAll(
      `InfluxDB sent nothing for ${silentMs} ms and did not answer its ping either (${probed.detail ?? 'no answer'})`,
    )
  }
  const startWatchdog = () => {
    watchdog ??= setInterval(
      () => {
        if (watching) return
        watching = true
        void watch().finally(() => {
          watching = false
        })
      },
      Math.max(50, Math.min(1_000, Math.floor(silenceMs / 4))),
    ).unref()
  }

  const rows = async (query: string, signal?: AbortSignal): Promise<RawRow[]> => {
    breaker.admit()
    startWatchdog()
    try {
      const out = await (options.gate === undefined
        ? querier.rows(query, signal)
        : options.gate.run(
            (remainingMs) => {
              // A query that waited for a slot while InfluxDB was found down is not sent.
              breaker.admit()
              return querier.rows(query, signal, remainingMs)
            },
            { signal },
          ))
      breaker.up()
      return out
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error
      // Cancelled by the watchdog: InfluxDB's ping failed already and the breaker is open.
      if (error.down)
        throw new ApiError(
          'UPSTREAM_UNAVAILABLE',
          `InfluxDB stopped answering: ${error.cause instanceof Error ? error.cause.message : 'no answer'}; the query was cancelled`,
          {
            cause: error,
            details: { upstream: 'InfluxDB', silenceMs, retryAfterS: 2 },
            hint: `InfluxDB accepts connections but answers nothing (frozen, overloaded to a standstill, or a network black hole): the API cancels a query that hears nothing for ${silenceMs} ms (GRIDROOT_API_INFLUX_TIMEOUT) once InfluxDB's ping fails too. /healthz says when it answers again; retry after the retry-after header.`,
          },
        )
      // No answer: down (the ping fails too: the breaker opens), or up and busy with queries.
      const probed = await check()
      if (probed.ok && error.timedOut)
        throw new ApiError(
          'API_BUSY',
          `InfluxDB is up but busy: the query did not finish within its ${queryTimeoutMs} ms (with ${querier.inFlight()} other queries of this API open)`,
          {
            cause: error,
            details: { queryTimeoutMs, retryAfterS: 5 },
            hint: 'InfluxDB answers its health check but not this query in time: it is overloaded, not down. Ask for fewer or lighter series (a shorter range, a coarser resolution), or retry after the retry-after header.',
          },
        )
      throw error
    }
  }

  const revenue: RevenueStore = {
    async revenueSeries(plan, groupBy, filter, signal) {
      const tag = GROUP_TAG[groupBy]
      const bySeries = new Map<
        string,
        Map<number, { energyWh: number; revenueUnits: bigint; swaps: number }>
      >()
      const query =
        revenueSource === 'rollup' && groupBy !== 'device' && filter.devices === undefined
          ? revenueRollupFlux(bucket, options.aggregatorGroup, plan, groupBy, filter)
          : revenueSeriesFlux(bucket, plan, groupBy, filter)
      for (const r of await rows(query, signal)) {
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
    async page(filter, offset, limit, signal) {
      return (await rows(quarantinePageFlux(bucket, filter, offset, limit), signal)).map(
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
    async countsByReason(filter, signal) {
      const out: Record<string, number> = {}
      for (const r of await rows(quarantineCountsFlux(bucket, filter), signal))
        out[r.reason ?? ''] = int(r._value)
      return out
    },
  }

  const epochs: EpochStore = {
    async closedThrough(signal) {
      const [first] = await rows(closedThroughFlux(bucket), signal)
      return first === undefined ? undefined : int(first._value)
    },
    async closedEpochs(fromMs, toMs, signal) {
      const [markers, pools] = await Promise.all([
        rows(closedEpochsFlux(bucket, 'epoch_closed', fromMs, toMs), signal),
        rows(closedEpochsFlux(bucket, 'epoch_pool', fromMs, toMs), signal),
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

  // The /healthz check is the breaker's probe too: a failing check opens it.
  const probe: HealthProbe = { name: 'influxdb', check }

  const load = (): QueryLoad => ({
    inFlight: querier.inFlight(),
    waiting: options.gate?.stats().waiting ?? 0,
  })

  return { revenue, fleet, quarantine, epochs, probe, load }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
