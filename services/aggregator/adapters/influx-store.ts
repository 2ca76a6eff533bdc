/**
 * The aggregator's InfluxDB adapter: writes points (acknowledged writes: a promise that rejects
 * when the server did not take them), and reads back what a restart, a rebalance or an epoch
 * close needs, with Flux. Works against InfluxDB 1.8 (v2 API) and 2.x/Cloud alike.
 */
import type { WriteApi } from '@influxdata/influxdb-client'
import { epochEndMs, epochStartMs, type TimeGrid } from '../../../core/epochs/grid.ts'
import { RetryableError } from '../../../core/errors/base.ts'
import { createInflux, type InfluxClients } from '../../../runtime/clients/influx.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { PersistedDeviceState } from '../domain/device-state.ts'
import { MEASUREMENT } from '../domain/points.ts'

export interface PartitionWatermark {
  readonly partition: number
  readonly watermarkMs: number
  readonly updatedAtMs: number
}

export interface DeviceEpochTotals {
  readonly deviceId: string
  readonly poolId: string
  readonly assetClass: string
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly swaps: number
  readonly readings: number
  readonly quarantined: number
}

export interface AggregatorStore {
  /** Writes line-protocol lines in chunks; resolves only when InfluxDB acknowledged every chunk. */
  write(lines: readonly string[]): Promise<void>
  loadDeviceStates(consumerGroup: string): Promise<PersistedDeviceState[]>
  loadWatermarks(consumerGroup: string): Promise<PartitionWatermark[]>
  /** The latest closed epoch, if any. */
  loadClosedThrough(): Promise<number | undefined>
  /** Per-device totals of an epoch: its intervals plus the adjustments booked into it. */
  epochTotals(grid: TimeGrid, epoch: number): Promise<DeviceEpochTotals[]>
  close(): Promise<void>
}

export class InfluxWriteError extends RetryableError<'INFLUX_WRITE_FAILED'> {
  constructor(cause: unknown) {
    super('INFLUX_WRITE_FAILED', 'InfluxDB did not acknowledge a write', {
      metaMessages: [
        'Is InfluxDB up and is GRIDROOT_INFLUX_URL right? The aggregator retries and commits nothing meanwhile.',
      ],
      cause,
    })
  }
}

const FLUX_EPOCH_ZERO = '1970-01-01T00:00:00Z'
const FLUX_EPOCH_ZERO_END = '1970-01-01T00:00:01Z'

const fluxString = (v: string) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`
const iso = (ms: number) => new Date(ms).toISOString()

export function createInfluxStore(
  endpoint: Endpoints['influx'],
  options: { readonly chunkLines: number; readonly concurrency: number; readonly gzip: boolean },
): AggregatorStore {
  const influx: InfluxClients = createInflux(endpoint, { timeoutMs: 30_000 })
  // Writers without client-side batching or retries: the aggregator decides when to retry, and
  // must know that a write landed before it commits Kafka offsets. Several of them write the
  // chunks of one call concurrently, which lets InfluxDB use more than one core.
  const writers: WriteApi[] = Array.from({ length: options.concurrency }, () =>
    influx.writeApi('ns', {
      maxRetries: 0,
      batchSize: options.chunkLines + 1,
      flushInterval: 0,
      // Compressing only to have the server decompress costs CPU on both ends of a loopback link.
      gzipThreshold: options.gzip ? 1000 : Number.MAX_SAFE_INTEGER,
    }),
  )
  const bucket = fluxString(influx.bucket)

  const rows = (query: string) => influx.queryApi.collectRows<Record<string, unknown>>(query)

  return {
    async write(lines) {
      let next = 0
      const writeChunks = async (writer: WriteApi) => {
        for (; next < lines.length; ) {
          const chunk = lines.slice(next, next + options.chunkLines)
          next += chunk.length
          writer.writeRecords(chunk)
          try {
            await writer.flush()
          } catch (error) {
            throw new InfluxWriteError(error)
          }
        }
      }
      await Promise.all(writers.map(writeChunks))
    },

    async loadDeviceStates(consumerGroup) {
      const result = await rows(`from(bucket: ${bucket})
  |> range(start: ${FLUX_EPOCH_ZERO}, stop: ${FLUX_EPOCH_ZERO_END})
  |> filter(fn: (r) => r._measurement == "${MEASUREMENT.deviceState}" and r.group == ${fluxString(consumerGroup)})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`)
      return result.map((r) => {
        const n = (k: string) => Number(r[k])
        const optional = (k: string) => (n(k) < 0 ? undefined : n(k))
        return {
          deviceId: String(r.device),
          partition: n('partition'),
          meter: {
            lastSeq: n('lastSeq'),
            lastTs: n('lastTs'),
            lastRegisterWh: n('lastRegisterWh'),
            lastSwapCount: optional('lastSwapCount'),
            lastPowerW: optional('lastPowerW'),
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

    async loadClosedThrough() {
      const result = await rows(`from(bucket: ${bucket})
  |> range(start: ${FLUX_EPOCH_ZERO})
  |> filter(fn: (r) => r._measurement == "${MEASUREMENT.epochClosed}" and r._field == "epoch")
  |> group()
  |> max()`)
      const value = result[0]?._value
      return value === undefined ? undefined : Number(value)
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
      const byDevice = new Map<string, Record<string, unknown>>()
      for (const r of result) {
        const key = String(r.device)
        const entry = byDevice.get(key) ?? { device: r.device, pool: r.pool, class: r.class }
        entry[String(r._field)] = r._value
        byDevice.set(key, entry)
      }
      return [...byDevice.values()].map((e) => ({
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

    async close() {
      await Promise.all(writers.map((w) => w.close().catch(() => undefined)))
    },
  }
}
