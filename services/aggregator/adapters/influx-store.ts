/**
 * The aggregator's InfluxDB adapter (the `AggregatorStore` port): writes line protocol, one HTTP
 * request per call, and reads back what a restart, a rebalance or an epoch close needs, with
 * Flux. Works against InfluxDB 1.8 (v2 API) and 2.x/Cloud alike.
 *
 * Writes go over fetch rather than the client's batching WriteApi: the aggregator must know
 * that one request carried exactly the lines it was given (device states and watermarks land
 * together or not at all), and which status the server answered, to tell a write it will never
 * take (4xx: dead-letter what caused it) from one to retry (5xx, network).
 */
import { gzipSync } from 'node:zlib'
import type { RollupPoint } from '../../../core/aggregation/rollups.ts'
import { epochEndMs, epochStartMs } from '../../../core/epochs/grid.ts'
import { GridrootError, RetryableError } from '../../../core/errors/base.ts'
import { createInflux, type InfluxClients } from '../../../runtime/clients/influx.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import { MEASUREMENT } from '../domain/points.ts'
import type { AggregatorStore } from '../ports.ts'

/** InfluxDB did not answer, or answered 5xx/429, or the bucket/credentials are not there yet. */
export class InfluxWriteError extends RetryableError<'INFLUX_WRITE_FAILED'> {
  override readonly name = 'InfluxWriteError'
  readonly status: number | undefined
  constructor(status: number | undefined, body: string, cause?: unknown) {
    super('INFLUX_WRITE_FAILED', `InfluxDB did not acknowledge a write${status ? ` (HTTP ${status})` : ''}`, {
      metaMessages: [
        status === 401 || status === 403
          ? 'Check GRIDROOT_INFLUX_TOKEN. The aggregator retries and commits nothing meanwhile.'
          : status === 404
            ? 'Create the bucket (GRIDROOT_INFLUX_BUCKET). The aggregator retries and commits nothing meanwhile.'
            : 'Is InfluxDB up and is GRIDROOT_INFLUX_URL right? The aggregator retries and commits nothing meanwhile.',
        ...(body ? [body.slice(0, 500)] : []),
      ],
      cause,
    })
    this.status = status
  }
}

/** InfluxDB refused the lines and always will (400 bad points, 413 too large). */
export class InfluxWriteRefusedError extends GridrootError<'INFLUX_WRITE_REFUSED'> {
  override readonly name = 'InfluxWriteRefusedError'
  readonly status: number
  readonly serverMessage: string
  constructor(status: number, serverMessage: string) {
    super('INFLUX_WRITE_REFUSED', `InfluxDB refused a write (HTTP ${status})`, {
      metaMessages: [
        serverMessage.slice(0, 500),
        'The refused lines are dead-lettered to telemetry.dlq (reason AGG_INFLUX_REFUSED); the rest is written.',
      ],
    })
    this.status = status
    this.serverMessage = serverMessage
  }
}

const FLUX_EPOCH_ZERO = '1970-01-01T00:00:00Z'
const FLUX_EPOCH_ZERO_END = '1970-01-01T00:00:01Z'
const WRITE_TIMEOUT_MS = 30_000

const fluxString = (v: string) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`
const iso = (ms: number) => new Date(ms).toISOString()

/** Which answers are the lines' fault (never accepted) rather than the server's or ours. */
const isRefusal = (status: number) => status === 400 || status === 413 || status === 422

export function createInfluxStore(
  endpoint: Endpoints['influx'],
  options: { readonly gzip: boolean },
): AggregatorStore & {
  /** Writes many lines in chunks, `concurrency` requests at a time (benchmarks, tests). */
  write(lines: readonly string[], chunkLines: number, concurrency: number): Promise<void>
} {
  const influx: InfluxClients = createInflux(endpoint, { timeoutMs: 30_000 })
  const bucket = fluxString(influx.bucket)
  const writeUrl = new URL('/api/v2/write', endpoint.url)
  writeUrl.searchParams.set('org', endpoint.org)
  writeUrl.searchParams.set('bucket', endpoint.bucket)
  writeUrl.searchParams.set('precision', 'ns')
  const rows = (query: string) => influx.queryApi.collectRows<Record<string, unknown>>(query)
  /** Rows as the CSV strings, so int64 values (summed revenue) reach bigint without a float. */
  const rawRows = async (query: string) => {
    const out: Record<string, string>[] = []
    for await (const { values, tableMeta } of influx.queryApi.iterateRows(query)) {
      const row: Record<string, string> = {}
      for (const [i, column] of tableMeta.columns.entries()) row[column.label] = values[i] ?? ''
      out.push(row)
    }
    return out
  }

  const writeRequest = async (lines: readonly string[], signal?: AbortSignal) => {
    if (lines.length === 0) return
    const text = lines.join('\n')
    // Compressing only to have the server decompress costs CPU on both ends of a loopback link.
    const body = options.gzip ? gzipSync(text) : text
    const timeout = AbortSignal.timeout(WRITE_TIMEOUT_MS)
    let response: Response
    try {
      response = await fetch(writeUrl, {
        method: 'POST',
        headers: {
          authorization: `Token ${endpoint.token}`,
          'content-type': 'text/plain; charset=utf-8',
          ...(options.gzip ? { 'content-encoding': 'gzip' } : {}),
        },
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      })
    } catch (error) {
      throw new InfluxWriteError(undefined, '', error)
    }
    if (response.status === 204 || response.status === 200) {
      await response.arrayBuffer()
      return
    }
    const message = await response.text().catch(() => '')
    if (isRefusal(response.status)) throw new InfluxWriteRefusedError(response.status, message)
    throw new InfluxWriteError(response.status, message)
  }

  return {
    writeRequest,

    async write(lines, chunkLines, concurrency) {
      let next = 0
      const worker = async () => {
        while (next < lines.length) {
          const chunk = lines.slice(next, next + chunkLines)
          next += chunk.length
          await writeRequest(chunk)
        }
      }
      await Promise.all(Array.from({ length: concurrency }, worker))
    },

    async ping() {
      try {
        const response = await fetch(new URL('/ping', endpoint.url), { signal: AbortSignal.timeout(3_000) })
        await response.arrayBuffer()
        return response.ok ? undefined : `influxdb answered /ping with HTTP ${response.status}`
      } catch (error) {
        return pingFailure(error, endpoint.url)
      }
    },

    async loadDeviceStates(consumerGroup) {
      const result = await rows(`from(bucket: ${bucket})
  |> range(start: ${FLUX_EPOCH_ZERO}, stop: ${FLUX_EPOCH_ZERO_END})
  |> filter(fn: (r) => r._measurement == "${MEASUREMENT.deviceState}" and r.group == ${fluxString(consumerGroup)})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`)
      return result.map((r) => {
        const n = (k: string) => Number(r[k])
        const optional = (k: string) => (n(k) < 0 ? undefined : n(k))
        const present = (k: string) => (Number.isSafeInteger(n(k)) && n(k) >= 0 ? n(k) : undefined)
        return {
          deviceId: String(r.device),
          partition: n('partition'),
          poolId: typeof r.openPool === 'string' ? r.openPool : undefined,
          meter: {
            lastSeq: n('lastSeq'),
            lastTs: n('lastTs'),
            lastRegisterWh: n('lastRegisterWh'),
            lastSwapCount: optional('lastSwapCount'),
            lastPowerW: optional('lastPowerW'),
            // Absent in states written before they existed (the next reading then measures a clock
            // behind by what it has).
            lastDeviceTs: present('lastDeviceTs'),
            lastReceivedAtMs: present('lastReceivedAtMs'),
            lastStepMs: present('lastStepMs'),
          },
          // States written before boots existed have no boot field: boot 0.
          boot: Number.isSafeInteger(n('boot')) ? n('boot') : 0,
          open: {
            startMs: n('openStartMs'),
            energyWh: n('openEnergyWh'),
            swaps: n('openSwaps'),
            readings: n('openReadings'),
            quarantined: n('openQuarantined'),
          },
        }
      })
    },

    async loadWatermarks(consumerGroup) {
      const result = await rows(`from(bucket: ${bucket})
  |> range(start: ${FLUX_EPOCH_ZERO}, stop: ${FLUX_EPOCH_ZERO_END})
  |> filter(fn: (r) => r._measurement == "${MEASUREMENT.watermark}" and r.group == ${fluxString(consumerGroup)})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`)
      return result.map((r) => ({
        partition: Number(r.partition),
        watermarkMs: Number(r.watermarkMs),
        updatedAtMs: Number(r.updatedAtMs),
      }))
    },

    async loadRollups(consumerGroup, fromMsByPartition) {
      if (fromMsByPartition.size === 0) return []
      const starts = [...fromMsByPartition.values()]
      // Rollups live between 2000 and 2100 like every point of the data contract.
      const startMs = starts.includes(undefined)
        ? Date.parse('2000-01-01T00:00:00Z')
        : Math.min(...(starts as number[]))
      const partitions = [...fromMsByPartition.keys()].map((p) => `r.partition == "${p}"`).join(' or ')
      const result = await rawRows(`from(bucket: ${bucket})
  |> range(start: ${iso(startMs)}, stop: 2100-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "${MEASUREMENT.revenueRollup}" and r.group == ${fluxString(consumerGroup)})
  |> filter(fn: (r) => ${partitions})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`)
      return result.flatMap((r): RollupPoint[] => {
        const partition = Number(r.partition)
        const timeMs = Date.parse(String(r._time))
        const fromMs = fromMsByPartition.get(partition)
        if (fromMs !== undefined && timeMs < fromMs) return []
        return [
          {
            partition,
            source: r.source === 'adjustment' ? 'adjustment' : 'interval',
            poolId: String(r.pool),
            assetClass: String(r.class),
            timeMs,
            energyWh: Number(r.energyWh || 0),
            revenueUnits: BigInt(r.revenueUnits || 0),
            swaps: Number(r.swaps || 0),
            readings: Number(r.readings || 0),
            quarantined: Number(r.quarantined || 0),
          },
        ]
      })
    },

    async epochTotals(grid, epoch) {
      // The stop is one millisecond early on purpose: Flux in InfluxDB 1.8 includes points at
      // the stop time, and the next epoch's first interval starts exactly there. Nothing of
      // this epoch lives in its last millisecond (intervals start on whole intervals,
      // adjustments within the first millisecond of their booked epoch).
      const result = await rows(`from(bucket: ${bucket})
  |> range(start: ${iso(epochStartMs(grid, epoch))}, stop: ${iso(epochEndMs(grid, epoch) - 1)})
  |> filter(fn: (r) => r._measurement == "${MEASUREMENT.interval}" or r._measurement == "${MEASUREMENT.adjustment}")
  |> filter(fn: (r) => r._field == "energyWh" or r._field == "revenueUnits" or r._field == "swaps" or r._field == "readings" or r._field == "quarantined")
  |> group(columns: ["device", "pool", "class", "_field"])
  |> sum()`)
      // Keyed by device AND pool: a device that moved pools within the epoch has one row each.
      const byDevicePool = new Map<string, Record<string, unknown>>()
      for (const r of result) {
        const key = `${String(r.device)}\u0000${String(r.pool)}`
        const entry = byDevicePool.get(key) ?? { device: r.device, pool: r.pool, class: r.class }
        entry[String(r._field)] = r._value
        byDevicePool.set(key, entry)
      }
      return [...byDevicePool.values()].map((e) => ({
        deviceId: String(e.device),
        poolId: String(e.pool),
        assetClass: String(e.class),
        energyWh: Number(e.energyWh ?? 0),
        // Flux returns int64 as a JavaScript number; revenue totals stay far below 2^53 units
        // (9 billion HKD) per device and epoch, and are re-read as bigint for arithmetic.
        revenueUnits: BigInt(String(e.revenueUnits ?? 0)),
        swaps: Number(e.swaps ?? 0),
        readings: Number(e.readings ?? 0),
        quarantined: Number(e.quarantined ?? 0),
      }))
    },

    async close() {},
  }
}

/** An operator's reading of a failed /ping: timed out (frozen, overloaded) or why it was refused. */
function pingFailure(error: unknown, url: string): string {
  const name = error instanceof Error ? error.name : ''
  if (name === 'TimeoutError' || name === 'AbortError') return 'influxdb did not answer /ping within 3 s'
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined
  const why = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))
  return `influxdb at ${url} cannot be reached (${why})`
}
