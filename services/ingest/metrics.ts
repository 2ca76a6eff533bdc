import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { REJECTION_REASON_CODES } from '../../core/telemetry/reasons.ts'

export interface IngestMetrics {
  readonly registry: Registry
  readonly received: Counter
  readonly accepted: Counter
  readonly acceptedReadings: Counter
  readonly rejected: Counter<'reason'>
  readonly produceErrors: Counter
  readonly produceBatch: Histogram
  readonly inFlight: Gauge
}

export function createIngestMetrics(): IngestMetrics {
  const registry = new Registry()
  const rejected = new Counter({
    name: 'gridroot_ingest_messages_rejected_total',
    help: 'Messages sent to the DLQ, by reason code',
    labelNames: ['reason'],
    registers: [registry],
  })
  // Every reason shows up as 0 from the start, so dashboards and alerts see the series.
  for (const reason of REJECTION_REASON_CODES) rejected.inc({ reason }, 0)
  return {
    registry,
    received: new Counter({
      name: 'gridroot_ingest_messages_received_total',
      help: 'MQTT messages received',
      registers: [registry],
    }),
    accepted: new Counter({
      name: 'gridroot_ingest_messages_accepted_total',
      help: 'Messages produced to telemetry.v1',
      registers: [registry],
    }),
    acceptedReadings: new Counter({
      name: 'gridroot_ingest_readings_accepted_total',
      help: 'Readings produced to telemetry.v1',
      registers: [registry],
    }),
    rejected,
    produceErrors: new Counter({
      name: 'gridroot_ingest_kafka_produce_errors_total',
      help: 'Failed Kafka produce requests (retried)',
      registers: [registry],
    }),
    produceBatch: new Histogram({
      name: 'gridroot_ingest_kafka_batch_records',
      help: 'Records per Kafka produce request',
      buckets: [1, 4, 16, 64, 256, 1024],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'gridroot_ingest_messages_in_flight',
      help: 'Messages received and not yet acknowledged to the broker',
      registers: [registry],
    }),
  }
}
