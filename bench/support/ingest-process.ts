/**
 * The ingest service as the subject of a benchmark: its own process (as in production), so its
 * CPU and memory are its own, with the configuration from the environment like `npm run ingest`.
 */
import type { Endpoints } from '../../runtime/endpoints.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { ephemeralPort } from '../../stack/ports.ts'
import { type BenchChild, spawnTsChild, waitForMetrics } from './child.ts'

export interface IngestCounters {
  readonly messagesAccepted: number
  readonly readingsAccepted: number
  readonly messagesRejected: number
  /** Kafka produce requests and the records they carried (the batch-size histogram's count and sum). */
  readonly produceRequests: number
  readonly producedRecords: number
}

export interface IngestProcess extends BenchChild {
  readonly metricsPort: number
  counters(): Promise<IngestCounters>
}

export interface StartIngestOptions {
  readonly endpoints: Endpoints
  readonly registryFile: string
  readonly instance: string
  /** More GRIDROOT_INGEST_* settings; the service's defaults apply to the rest. */
  readonly settings: Record<string, string>
  /** Node flags for the ingest process only, e.g. `--cpu-prof --cpu-prof-dir=DIR`. */
  readonly nodeArgs: readonly string[]
  readonly startTimeoutMs: number
  /** The entry point, relative to the repository or absolute. */
  readonly entry: string
  /** Where to append its logs besides keeping their end for error messages. */
  readonly logFile: string | undefined
}

function parseCounters(text: string): IngestCounters {
  let messagesAccepted = Number.NaN
  let readingsAccepted = Number.NaN
  let messagesRejected = 0
  let produceRequests = Number.NaN
  let producedRecords = Number.NaN
  for (const line of text.split('\n')) {
    const space = line.lastIndexOf(' ')
    const series = line.slice(0, space)
    const value = Number(line.slice(space + 1))
    if (series === 'gridroot_ingest_messages_accepted_total') messagesAccepted = value
    else if (series === 'gridroot_ingest_readings_accepted_total') readingsAccepted = value
    else if (series.startsWith('gridroot_ingest_messages_rejected_total{')) messagesRejected += value
    else if (series === 'gridroot_ingest_kafka_batch_records_count') produceRequests = value
    else if (series === 'gridroot_ingest_kafka_batch_records_sum') producedRecords = value
  }
  return { messagesAccepted, readingsAccepted, messagesRejected, produceRequests, producedRecords }
}

export async function startIngestProcess(options: StartIngestOptions): Promise<IngestProcess> {
  const metricsPort = await ephemeralPort()
  const child = spawnTsChild(options.entry, {
    env: {
      ...endpointsToEnv(options.endpoints),
      GRIDROOT_LOG_LEVEL: 'warn',
      GRIDROOT_REGISTRY_FILE: options.registryFile,
      GRIDROOT_INGEST_INSTANCE: options.instance,
      GRIDROOT_INGEST_SHARED_GROUP: options.instance,
      GRIDROOT_INGEST_METRICS_PORT: String(metricsPort),
      ...options.settings,
    },
    nodeArgs: options.nodeArgs,
    ...(options.logFile === undefined ? {} : { logFile: options.logFile }),
  })
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`
  const counters = async () => {
    const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) })
    return parseCounters(await response.text())
  }
  await waitForMetrics(child, 'ingest', counters, options.startTimeoutMs)
  return { ...child, metricsPort, counters }
}
