/**
 * The aggregator's booked totals of a closed epoch, read with Flux from its `epoch_device`
 * points (written before the epoch is announced, at the epoch's start time). Works against
 * InfluxDB 1.8 (v2 API) and 2.x/Cloud.
 */
import { epochStartMs, type TimeGrid } from '../../../core/epochs/grid.ts'
import { RetryableError } from '../../../core/errors/base.ts'
import { createInflux } from '../../../runtime/clients/influx.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { DeviceEpochTotals, EpochTotalsStore } from '../ports.ts'

const fluxString = (v: string) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`

export class InfluxReadError extends RetryableError<'ORACLE_INFLUX_READ_FAILED'> {
  override readonly name = 'InfluxReadError'
  constructor(cause: unknown) {
    super('ORACLE_INFLUX_READ_FAILED', 'InfluxDB did not answer the epoch totals query', {
      metaMessages: ['Is InfluxDB up and is GRIDROOT_INFLUX_URL right? The signer retries.'],
      cause,
    })
  }
}

export function createInfluxEpochTotals(endpoint: Endpoints['influx'], grid: TimeGrid): EpochTotalsStore {
  const influx = createInflux(endpoint, { timeoutMs: 30_000 })
  const bucket = fluxString(influx.bucket)
  return {
    async epochTotals(epoch) {
      const start = epochStartMs(grid, epoch)
      const query = `from(bucket: ${bucket})
  |> range(start: ${new Date(start).toISOString()}, stop: ${new Date(start + 1).toISOString()})
  |> filter(fn: (r) => r._measurement == "epoch_device")
  |> pivot(rowKey: ["_time", "device", "pool"], columnKey: ["_field"], valueColumn: "_value")`
      let rows: Record<string, unknown>[]
      try {
        rows = await influx.queryApi.collectRows<Record<string, unknown>>(query)
      } catch (error) {
        throw new InfluxReadError(error)
      }
      return rows
        .filter((r) => Number(r.epoch) === epoch)
        .map((r) => ({
          deviceId: String(r.device),
          poolId: String(r.pool),
          assetClass: String(r.class),
          energyWh: Number(r.energyWh ?? 0),
          // int64 arrives as a JS number; per device and epoch it stays far below 2^53 units.
          revenueUnits: BigInt(String(r.revenueUnits ?? 0)),
          swaps: Number(r.swaps ?? 0),
          readings: Number(r.readings ?? 0),
          quarantined: Number(r.quarantined ?? 0),
        })) satisfies DeviceEpochTotals[]
    },
  }
}
