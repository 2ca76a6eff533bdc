import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { ANOMALY_REASON_CODES, CLOCK_CORRECTION_CODES } from '../../core/energy/meter-account.ts'
import { SEQUENCE_REASON_CODES } from '../../core/energy/sequence.ts'

export function createAggregatorMetrics() {
  const registry = new Registry()
  const quarantined = new Counter({
    name: 'gridroot_aggregator_readings_quarantined_total',
    help: 'Anomalous readings quarantined, by reason',
    labelNames: ['reason'],
    registers: [registry],
  })
  for (const reason of [...ANOMALY_REASON_CODES, ...SEQUENCE_REASON_CODES]) quarantined.inc({ reason }, 0)
  const clockCorrected = new Counter({
    name: 'gridroot_aggregator_readings_clock_corrected_total',
    help: 'Readings paid but booked at another time than their device time, by correction',
    labelNames: ['correction'],
    registers: [registry],
  })
  for (const correction of CLOCK_CORRECTION_CODES) clockCorrected.inc({ correction }, 0)
  const deadLettered = new Counter({
    name: 'gridroot_aggregator_dead_lettered_total',
    help: 'Records and lines sent to telemetry.dlq, by reason',
    labelNames: ['reason'],
    registers: [registry],
  })
  for (const reason of ['AGG_UNKNOWN_DEVICE', 'AGG_INFLUX_REFUSED']) deadLettered.inc({ reason }, 0)
  const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] })
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [registry] })
  return {
    registry,
    quarantined,
    clockCorrected,
    staleDuplicates: counter(
      'gridroot_aggregator_readings_duplicate_stale_total',
      'Of the duplicates, those behind the recent window (told from new readings by device time)',
    ),
    records: counter('gridroot_aggregator_records_total', 'Kafka records consumed'),
    applied: counter(
      'gridroot_aggregator_readings_applied_total',
      'Readings accounted (accepted or quarantined)',
    ),
    duplicates: counter(
      'gridroot_aggregator_readings_duplicate_total',
      'Identical replays dropped by (deviceId, boot, seq)',
    ),
    gapsSkipped: counter(
      'gridroot_aggregator_seq_gaps_skipped_total',
      'Seq gaps given up on after the reorder window',
    ),
    lateAdjustments: counter(
      'gridroot_aggregator_late_adjustments_total',
      'Late contributions booked as adjustments',
    ),
    unknownDevices: counter(
      'gridroot_aggregator_unknown_device_total',
      'Records of devices missing from the registry (held until the registry knows them)',
    ),
    deadLettered,
    influxRefusedLines: counter(
      'gridroot_aggregator_influx_refused_lines_total',
      'Lines InfluxDB refused for good (4xx), dead-lettered',
    ),
    heldRecords: gauge(
      'gridroot_aggregator_held_records',
      'Records of unknown devices waiting for the registry',
    ),
    fencedJobs: counter(
      'gridroot_aggregator_fenced_jobs_total',
      'Write jobs stopped because their consumer generation ended (a rebalance)',
    ),
    watermarkMarkers: counter(
      'gridroot_aggregator_watermark_markers_total',
      'Watermark markers appended to idle partitions of telemetry.v1',
    ),
    undecodable: counter(
      'gridroot_aggregator_undecodable_total',
      'Records that are not telemetry JSON (skipped)',
    ),
    influxWriteFailures: counter(
      'gridroot_aggregator_influx_write_failures_total',
      'Failed InfluxDB writes (retried)',
    ),
    influxDown: gauge('gridroot_aggregator_influx_unavailable', '1 while InfluxDB writes are failing'),
    writeSeconds: new Histogram({
      name: 'gridroot_aggregator_influx_write_seconds',
      help: 'Time to write one batch to InfluxDB',
      buckets: [0.005, 0.02, 0.05, 0.2, 1, 5],
      registers: [registry],
    }),
    devices: gauge('gridroot_aggregator_devices', 'Devices held in memory'),
    pendingReadings: gauge('gridroot_aggregator_pending_readings', 'Readings waiting for a seq gap to fill'),
    closedEpoch: gauge('gridroot_aggregator_closed_epoch', 'Latest closed epoch'),
    globalWatermark: gauge('gridroot_aggregator_global_watermark_ms', 'Global device-time watermark'),
  }
}
export type AggregatorMetrics = ReturnType<typeof createAggregatorMetrics>
