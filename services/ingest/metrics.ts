import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { REJECTION_REASON_CODES } from '../../core/telemetry/reasons.ts'
import { ADMISSION_FAILURE_REASON_CODES, SINK_REFUSAL_REASON_CODES } from './ports.ts'

export interface IngestMetrics {
  readonly registry: Registry
  readonly received: Counter
  readonly accepted: Counter
  readonly acceptedReadings: Counter
  readonly rejected: Counter<'reason'>
  readonly produceErrors: Counter<'kind'>
  readonly produceBatch: Histogram
  readonly inFlight: Gauge
  readonly dlqTruncated: Counter
  readonly producerResets: Counter
  readonly oldestPendingAge: Gauge
  readonly kafkaReachable: Gauge
  readonly mqttConnectionsUp: Gauge
  readonly mqttReconnects: Counter
  readonly mqttRedeliveriesJoined: Counter
  readonly staleSessionsDrained: Counter
  readonly staleSessionMessages: Counter
  readonly healthy: Gauge
  readonly admissionWorkersRunning: Gauge
  readonly admissionWorkerCrashes: Gauge
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
  for (const reason of [
    ...REJECTION_REASON_CODES,
    ...SINK_REFUSAL_REASON_CODES,
    ...ADMISSION_FAILURE_REASON_CODES,
  ])
    rejected.inc({ reason }, 0)
  const produceErrors = new Counter({
    name: 'gridroot_ingest_kafka_produce_errors_total',
    help: 'Failed Kafka produce requests, by kind: transient (retried), record (refused record isolated and dead-lettered), producer-state (fresh producer), fatal (ingest stops)',
    labelNames: ['kind'],
    registers: [registry],
  })
  for (const kind of ['transient', 'record', 'producer-state', 'fatal']) produceErrors.inc({ kind }, 0)
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
    produceErrors,
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
    dlqTruncated: new Counter({
      name: 'gridroot_ingest_dlq_truncated_total',
      help: 'DLQ records whose value was cut to GRIDROOT_INGEST_DLQ_MAX_VALUE_BYTES (size and sha256 of the whole in headers)',
      registers: [registry],
    }),
    producerResets: new Counter({
      name: 'gridroot_ingest_kafka_producer_resets_total',
      help: 'Fresh Kafka producers (after a refused record or a producer-state error)',
      registers: [registry],
    }),
    oldestPendingAge: new Gauge({
      name: 'gridroot_ingest_kafka_oldest_pending_seconds',
      help: 'Age of the oldest record waiting for Kafka to acknowledge it',
      registers: [registry],
    }),
    kafkaReachable: new Gauge({
      name: 'gridroot_ingest_kafka_reachable',
      help: '1 while the Kafka cluster answers (metadata probe or produce), else 0',
      registers: [registry],
    }),
    mqttConnectionsUp: new Gauge({
      name: 'gridroot_ingest_mqtt_connections_up',
      help: 'MQTT connections currently connected',
      registers: [registry],
    }),
    mqttReconnects: new Counter({
      name: 'gridroot_ingest_mqtt_reconnects_total',
      help: 'MQTT connections re-established after a drop',
      registers: [registry],
    }),
    mqttRedeliveriesJoined: new Counter({
      name: 'gridroot_ingest_mqtt_redeliveries_joined_total',
      help: 'Redelivered messages (after a reconnect) joined to the still-running handling of their first delivery instead of handled twice',
      registers: [registry],
    }),
    staleSessionsDrained: new Counter({
      name: 'gridroot_ingest_stale_sessions_drained_total',
      help: 'Persistent MQTT sessions of this instance beyond the configured connections (or of the old client-id form, or retired) drained and ended at start',
      registers: [registry],
    }),
    staleSessionMessages: new Counter({
      name: 'gridroot_ingest_stale_session_messages_total',
      help: 'Messages taken from stale sessions at start (through the normal pipeline, to Kafka once)',
      registers: [registry],
    }),
    healthy: new Gauge({
      name: 'gridroot_ingest_healthy',
      help: '1 when /healthz answers 200, else 0',
      registers: [registry],
    }),
    admissionWorkersRunning: new Gauge({
      name: 'gridroot_ingest_admission_workers_running',
      help: 'Admission (verification) worker threads running; a crashed one is replaced',
      registers: [registry],
    }),
    // A gauge fed from the pool's count (a counter would need the pool to know the metrics).
    admissionWorkerCrashes: new Gauge({
      name: 'gridroot_ingest_admission_worker_crashes',
      help: 'Admission worker threads that crashed or exited since start (their messages went to the others)',
      registers: [registry],
    }),
  }
}
