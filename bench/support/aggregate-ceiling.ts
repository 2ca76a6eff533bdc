/**
 * What InfluxDB alone allows the aggregator on this machine: the one `reading` point per
 * accepted reading that the aggregator must write (the issue asks for the accepted readings in
 * InfluxDB), formatted by the aggregator's own LineFormatter and written by its own store with
 * its default chunking and concurrency, back to back into an empty database, with nothing else
 * running: no Kafka, no decoding, no accounting, no interval or state points. The aggregator
 * cannot drain faster than this, so `ceiling / bare consumer` bounds the ratio any aggregator that
 * stores every reading in this InfluxDB can reach here.
 */

import type { TimeGrid } from '../../core/epochs/grid.ts'
import type { DeviceRecord } from '../../core/identity/registry.ts'
import { decodeAcceptedRecord } from '../../core/telemetry/decode.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { LineFormatter } from '../../services/aggregator/adapters/influx-lines.ts'
import { createInfluxStore } from '../../services/aggregator/adapters/influx-store.ts'
import { aggregatorConfigFromEnv } from '../../services/aggregator/config.ts'
import type { Publish } from '../../simulators/scenario.ts'
import { createRunDatabase, dropRunDatabase } from './aggregate-influx.ts'

export class ReadingLines {
  readonly lines: string[] = []
  private readonly formatter: LineFormatter

  constructor(
    grid: TimeGrid,
    private readonly devices: ReadonlyMap<string, DeviceRecord>,
  ) {
    this.formatter = new LineFormatter(grid, 'ceiling')
  }

  add(publish: Publish): void {
    const device = this.devices.get(publish.deviceId)
    if (!device) throw new Error(`device ${publish.deviceId} is not in the fleet`)
    const message = decodeAcceptedRecord(publish.payload)
    const lines = this.formatter.dataLines({
      intervals: [],
      adjustments: [],
      readings: message.readings.map((reading) => ({ device, reading, epoch: 0 })),
      quarantines: [],
      states: [],
      watermarks: new Map(),
      rollups: [],
      offsets: [],
    })
    for (const line of lines) this.lines.push(line)
  }
}

export interface InfluxCeiling {
  readonly readingsPerSecond: number
  readonly points: number
  readonly seconds: number
  readonly chunkLines: number
  readonly concurrency: number
}

export async function measureInfluxCeiling(
  endpoint: Endpoints['influx'],
  database: string,
  lines: readonly string[],
  /** The aggregator's settings in the benchmark (GRIDROOT_BENCH_AGG_ENV), over its defaults. */
  settings: Readonly<Record<string, string>>,
): Promise<InfluxCeiling> {
  const defaults = aggregatorConfigFromEnv({ GRIDROOT_REGISTRY_FILE: 'unused', ...settings })
  const target = await createRunDatabase(endpoint, database)
  const store = createInfluxStore(target, { gzip: false })
  try {
    const startedMs = performance.now()
    await store.write(lines, defaults.influxChunkLines, defaults.influxWriteConcurrency)
    const seconds = (performance.now() - startedMs) / 1000
    return {
      readingsPerSecond: lines.length / seconds,
      points: lines.length,
      seconds,
      chunkLines: defaults.influxChunkLines,
      concurrency: defaults.influxWriteConcurrency,
    }
  } finally {
    await store.close()
    await dropRunDatabase(endpoint, database)
  }
}
