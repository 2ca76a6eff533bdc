/**
 * Watches a run's epochs.v1 (read_committed, as the oracle reads it) and, the moment each
 * announcement arrives, recomputes its epoch's totals and digest from InfluxDB the way
 * docs/architecture.md tells a consumer to: so a test sees both "exactly one per epoch" and
 * "announced after its totals were durable".
 */

import { createHash } from 'node:crypto'
import { epochEndMs, epochStartMs, type TimeGrid } from '../../core/epochs/grid.ts'
import { createInflux } from '../../runtime/clients/influx.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { retry } from '../../runtime/retry.ts'
import { type KafkaCollector, startKafkaCollector } from './kafka-collector.ts'

export interface Announcement {
  readonly key: string
  readonly value: {
    readonly version: number
    readonly epoch: number
    readonly startMs: number
    readonly endMs: number
    readonly devices: number
    readonly pools: readonly {
      poolId: string
      devices: number
      energyWh: number
      revenueUnits: string
      swaps: number
      readings: number
      quarantined: number
    }[]
    readonly digest: { readonly algorithm: string; readonly value: string }
  }
  /** The digest recomputed from InfluxDB right when the announcement was read. */
  readonly digestInInflux: string
}

/** sha256 over `poolId,deviceId,energyWh,revenueUnits,swaps,readings,quarantined\n`, sorted by pool then device. */
export async function digestFromInflux(
  endpoint: Endpoints['influx'],
  grid: TimeGrid,
  epoch: number,
): Promise<string> {
  const influx = createInflux(endpoint)
  const rows = await influx.queryApi.collectRows<Record<string, unknown>>(`from(bucket: "${endpoint.bucket}")
  |> range(start: ${new Date(epochStartMs(grid, epoch)).toISOString()}, stop: ${new Date(epochEndMs(grid, epoch) - 1).toISOString()})
  |> filter(fn: (r) => r._measurement == "interval" or r._measurement == "adjustment")
  |> filter(fn: (r) => r._field == "energyWh" or r._field == "revenueUnits" or r._field == "swaps" or r._field == "readings" or r._field == "quarantined")
  |> group(columns: ["device", "pool", "_field"])
  |> sum()`)
  const byKey = new Map<string, Record<string, string>>()
  for (const r of rows) {
    const key = `${r.pool},${r.device}`
    const entry = byKey.get(key) ?? {}
    entry[String(r._field)] = String(r._value)
    byKey.set(key, entry)
  }
  const keys = [...byKey.keys()].sort((a, b) => {
    const [pa = '', da = ''] = a.split(',')
    const [pb = '', db = ''] = b.split(',')
    return pa === pb ? (da < db ? -1 : 1) : pa < pb ? -1 : 1
  })
  let text = ''
  for (const k of keys) {
    const e = byKey.get(k) ?? {}
    text += `${k},${e.energyWh ?? 0},${e.revenueUnits ?? 0},${e.swaps ?? 0},${e.readings ?? 0},${e.quarantined ?? 0}\n`
  }
  return createHash('sha256').update(text).digest('hex')
}

export interface EpochWatcher {
  readonly announcements: Announcement[]
  waitForEpoch(epoch: number, timeoutMs: number): Promise<void>
  /** Epochs announced more than once. */
  duplicates(): number[]
  stop(): Promise<void>
}

export async function watchEpochs(
  kafka: Endpoints['kafka'],
  influx: Endpoints['influx'],
  grid: TimeGrid,
  topic: string,
): Promise<EpochWatcher> {
  const announcements: Announcement[] = []
  const checks: Promise<void>[] = []
  const collector: KafkaCollector = await startKafkaCollector(kafka, [topic], (record) => {
    const value = JSON.parse(record.value.toString()) as Announcement['value']
    checks.push(
      // Retried: a test may kill its InfluxDB while an announcement arrives (transient errors
      // back off; an unhandled rejection here would fail the whole run).
      retry(() => digestFromInflux(influx, grid, value.epoch), {
        operation: 'digest from InfluxDB',
        maxAttempts: 60,
        maxDelayMs: 1_000,
      }).then((digestInInflux) => {
        announcements.push({ key: record.key, value, digestInInflux })
      }),
    )
    return false
  })
  return {
    announcements,
    async waitForEpoch(epoch, timeoutMs) {
      await collector.waitFor(
        () => announcements.some((a) => a.value.epoch >= epoch),
        timeoutMs,
        `epoch ${epoch} announced`,
      )
      await Promise.all(checks)
    },
    duplicates() {
      const seen = new Map<number, number>()
      for (const a of announcements) seen.set(a.value.epoch, (seen.get(a.value.epoch) ?? 0) + 1)
      return [...seen].filter(([, n]) => n > 1).map(([e]) => e)
    },
    async stop() {
      await Promise.all(checks)
      await collector.stop()
    },
  }
}
