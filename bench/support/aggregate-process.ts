/**
 * The aggregator as the subject of a benchmark: its own process, as in production (so its CPU
 * and memory are its own), configured through the environment like `npm run aggregator`, and
 * watched through its /metrics counters.
 */
import type { TimeGrid } from '../../core/epochs/grid.ts'
import { ENDPOINT_ENV, type Endpoints, endpointsToEnv } from '../../runtime/endpoints.ts'
import { ephemeralPort } from '../../stack/ports.ts'
import { type BenchChild, spawnTsChild, waitForMetrics } from './child.ts'

export interface AggregatorCounters {
  readonly records: number
  readonly applied: number
  readonly quarantined: number
  readonly duplicates: number
  readonly gapsSkipped: number
  readonly unknownDevices: number
  readonly undecodable: number
  readonly influxWriteFailures: number
  /** InfluxDB writes (one per batch and kind: data points, then states) and their total time. */
  readonly influxWrites: number
  readonly influxWriteSeconds: number
  readonly pendingReadings: number
}

export interface AggregatorProcess extends BenchChild {
  readonly metricsPort: number
  counters(): Promise<AggregatorCounters>
}

export interface StartAggregatorOptions {
  readonly endpoints: Endpoints
  /** `database/retention-policy` of this run's own InfluxDB database. */
  readonly influxBucket: string
  readonly topicPrefix: string
  readonly registryFile: string
  readonly grid: TimeGrid
  readonly consumerGroup: string
  /** More GRIDROOT_AGG_* settings; the service's defaults apply to the rest. */
  readonly settings: Readonly<Record<string, string>>
  /** Node flags for the aggregator only, e.g. `--cpu-prof --cpu-prof-dir=DIR`. */
  readonly nodeArgs: readonly string[]
  /** The entry point, relative to the repository or absolute. */
  readonly entry: string
  readonly startTimeoutMs: number
}

export function parseAggregatorCounters(text: string): AggregatorCounters {
  const values = new Map<string, number>()
  let quarantined = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    const series = line.slice(0, space)
    const value = Number(line.slice(space + 1))
    if (series.startsWith('gridroot_aggregator_readings_quarantined_total{')) quarantined += value
    else values.set(series, value)
  }
  const get = (series: string) => values.get(`gridroot_aggregator_${series}`) ?? Number.NaN
  return {
    records: get('records_total'),
    applied: get('readings_applied_total'),
    quarantined,
    duplicates: get('readings_duplicate_total'),
    gapsSkipped: get('seq_gaps_skipped_total'),
    unknownDevices: get('unknown_device_total'),
    undecodable: get('undecodable_total'),
    influxWriteFailures: get('influx_write_failures_total'),
    influxWrites: get('influx_write_seconds_count'),
    influxWriteSeconds: get('influx_write_seconds_sum'),
    pendingReadings: get('pending_readings'),
  }
}

export async function startAggregatorProcess(options: StartAggregatorOptions): Promise<AggregatorProcess> {
  const metricsPort = await ephemeralPort()
  const child = spawnTsChild(options.entry, {
    env: {
      ...endpointsToEnv(options.endpoints),
      [ENDPOINT_ENV.influxBucket]: options.influxBucket,
      GRIDROOT_LOG_LEVEL: 'warn',
      GRIDROOT_KAFKA_TOPIC_PREFIX: options.topicPrefix,
      GRIDROOT_REGISTRY_FILE: options.registryFile,
      GRIDROOT_EPOCH_GENESIS: new Date(options.grid.genesisMs).toISOString(),
      GRIDROOT_EPOCH_LENGTH: String(options.grid.epochLengthMs),
      GRIDROOT_INTERVAL: String(options.grid.intervalMs),
      GRIDROOT_AGG_GROUP: options.consumerGroup,
      GRIDROOT_AGG_INSTANCE: options.consumerGroup,
      GRIDROOT_AGG_METRICS_PORT: String(metricsPort),
      ...options.settings,
    },
    nodeArgs: options.nodeArgs,
  })
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`
  const counters = async () => {
    const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) })
    return parseAggregatorCounters(await response.text())
  }
  await waitForMetrics(child, 'the aggregator', counters, options.startTimeoutMs)
  return { ...child, metricsPort, counters }
}
