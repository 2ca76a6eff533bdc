import { describe, expect, it } from 'vitest'
import { type HealthInputs, ingestHealth } from './health.ts'

const healthy: HealthInputs = {
  nowMs: 100_000,
  graceMs: 10_000,
  stuckMs: 30_000,
  mqtt: { connections: 8, connected: 8, downTooLong: 0 },
  kafka: {
    probeFailingSinceMs: undefined,
    produceFailingSinceMs: undefined,
    oldestPendingAgeMs: 0,
    pending: 0,
    stopped: undefined,
  },
  inFlight: 0,
  admission: { workers: 2, running: 2, starting: 0, crashes: 0, lastCrash: undefined, oldestHandOffAgeMs: 0 },
}
const codes = (i: HealthInputs) => ingestHealth(i).reasons.map((r) => r.code)

describe('ingestHealth', () => {
  it('is ok while everything answers, and rides out a short blip', () => {
    expect(ingestHealth(healthy).ok).toBe(true)
    expect(ingestHealth({ ...healthy, kafka: { ...healthy.kafka, probeFailingSinceMs: 95_000 } }).ok).toBe(
      true,
    )
  })

  it('says which part is down or stuck', () => {
    expect(codes({ ...healthy, mqtt: { ...healthy.mqtt, connected: 5, downTooLong: 3 } })).toEqual([
      'MQTT_DISCONNECTED',
    ])
    expect(codes({ ...healthy, kafka: { ...healthy.kafka, produceFailingSinceMs: 80_000 } })).toEqual([
      'KAFKA_UNREACHABLE',
    ])
    // Stuck whatever the cause: Kafka answers metadata, yet nothing is acknowledged.
    expect(
      codes({ ...healthy, kafka: { ...healthy.kafka, oldestPendingAgeMs: 31_000, pending: 4 } }),
    ).toEqual(['KAFKA_PRODUCE_STUCK'])
    expect(codes({ ...healthy, kafka: { ...healthy.kafka, stopped: 'TOPIC_AUTHORIZATION_FAILED' } })).toEqual(
      ['KAFKA_SINK_STOPPED'],
    )
    // A worker in a loop answers nothing; a crashed one is replaced, and down until then.
    expect(codes({ ...healthy, admission: { ...healthy.admission, oldestHandOffAgeMs: 30_000 } })).toEqual([
      'ADMISSION_WORKER_STUCK',
    ])
    const crashed = { ...healthy.admission, running: 1, crashes: 1, lastCrash: 'boom' }
    expect(codes({ ...healthy, admission: crashed })).toEqual(['ADMISSION_WORKER_DOWN'])
    expect(ingestHealth({ ...healthy, admission: { ...crashed, running: 2 } }).ok).toBe(true)
  })

  it('calls workers still loading at start STARTING, not DOWN; a lost one is DOWN until its replacement is ready', () => {
    const atStart = { ...healthy.admission, running: 0, starting: 2 }
    expect(codes({ ...healthy, admission: atStart })).toEqual(['ADMISSION_WORKERS_STARTING'])
    expect(ingestHealth({ ...healthy, admission: atStart }).reasons[0]?.detail).toBe(
      '2 of 2 admission workers still starting',
    )
    const replacing = { ...healthy.admission, running: 1, starting: 0, crashes: 1, lastCrash: 'boom' }
    expect(codes({ ...healthy, admission: replacing })).toEqual(['ADMISSION_WORKER_DOWN'])
  })
  it('a connection that keeps being dropped is flapping, with the likely cause', () => {
    const h = ingestHealth({
      ...healthy,
      mqtt: { connections: 4, connected: 4, downTooLong: 0, flapping: 4 },
    })
    expect(h.ok).toBe(false)
    expect(h.reasons[0]?.code).toBe('MQTT_FLAPPING')
    expect(h.reasons[0]?.detail).toContain('GRIDROOT_INGEST_INSTANCE')
  })
})
