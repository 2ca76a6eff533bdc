/**
 * Ingest's admission workers failing, on the real Mosquitto and Kafka (issue 8, "/healthz reports
 * the truth"): a worker that crashes is replaced and the messages it held are admitted all the
 * same, exactly once; while replacements keep crashing /healthz answers 503
 * ADMISSION_WORKER_DOWN; a worker stuck in a loop makes it 503 ADMISSION_WORKER_STUCK, and the
 * other worker takes the messages after it. The workers fail on purpose
 * (test/ingest/support/faulty-admit-worker.mjs); everything else is ingest as it runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { topicSet } from '../../core/kafka/topics.ts'
import { telemetryTopic } from '../../core/telemetry/topic.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { createMqttPublisher, type MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type Publish, Scenario } from '../../simulators/scenario.ts'
import { startKafkaCollector } from '../support/kafka-collector.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const SAMPLE_MS = 300_000
const workDir = mkdtempSync(join(tmpdir(), 'gridroot-ingest-workers-'))
const faultFile = join(workDir, 'worker-fault')
const runId = `w${Date.now().toString(36)}`
const b64 = (b: Buffer) => b.toString('base64')

interface Health {
  status: number
  body: { ok: boolean; reasons: { code: string; detail: string }[] }
}
async function healthOf(ingest: ServiceProcess): Promise<Health> {
  const res = await fetch(`http://127.0.0.1:${ingest.metricsPort}/healthz`)
  return { status: res.status, body: (await res.json()) as Health['body'] }
}
async function untilHealth(ingest: ServiceProcess, what: (h: Health) => boolean, label: string) {
  const deadline = Date.now() + 60_000
  for (;;) {
    const h = await healthOf(ingest)
    if (what(h)) return h
    if (Date.now() > deadline) throw new Error(`${label}: /healthz still ${JSON.stringify(h)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
const hasReason = (code: string) => (h: Health) =>
  h.status === 503 && h.body.reasons.some((r) => r.code === code)

function fleetFor(seed: string) {
  const fleet = createFleet({ seed, chargers: 3, pv: 3, swap: 2, startMs: START, sampleMs: SAMPLE_MS })
  const registryFile = join(workDir, `${seed}.registry.json`)
  writeFileSync(registryFile, JSON.stringify(fleet.registry()))
  const scenario = new Scenario(fleet, {
    grid: { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: SAMPLE_MS },
    faults: {},
    batchSize: 1,
  })
  const ticks = (from: number, to: number) => {
    const out: Publish[] = []
    for (let t = START + from * SAMPLE_MS; t <= START + to * SAMPLE_MS; t += SAMPLE_MS)
      out.push(...scenario.tick(t))
    return out
  }
  return { registryFile, ticks }
}

async function startIngest(instance: string, registryFile: string) {
  const ingest = await startServiceProcess(
    'test/ingest/support/faulty-ingest-main.ts',
    {
      ...endpointsToEnv(endpoints),
      GRIDROOT_REGISTRY_FILE: registryFile,
      GRIDROOT_INGEST_INSTANCE: instance,
      GRIDROOT_INGEST_SHARED_GROUP: `${instance}-group`,
      GRIDROOT_INGEST_MQTT_CONNECTIONS: '8',
      GRIDROOT_INGEST_VERIFY_WORKERS: '2',
      GRIDROOT_INGEST_HEALTH_STUCK_MS: '3000',
      GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '120',
      GRIDROOT_TEST_WORKER_FAULT_FILE: faultFile,
    },
    'GRIDROOT_INGEST_METRICS_PORT',
  )
  await ingest.waitHealthy()
  return ingest
}

const fault = (junk: string, deviceId: string): Publish => ({
  topic: telemetryTopic('pv', deviceId),
  payload: Buffer.from(junk),
  deviceId,
  kind: 'malformed',
  readings: 0,
})

describe('ingest admission workers that fail (real Mosquitto + Kafka)', () => {
  let publisher: MqttPublisher
  const stopLater: { kill?: (s: NodeJS.Signals) => Promise<unknown>; stop?: () => Promise<void> }[] = []
  const topics = topicSet()

  beforeAll(async () => {
    publisher = await createMqttPublisher(endpoints.mqtt, {
      connections: 2,
      inflightPerConnection: 16,
      clientIdPrefix: `${runId}-pub`,
    })
  })
  afterAll(async () => {
    await publisher.close()
    for (const s of stopLater) await (s.kill ? s.kill('SIGTERM') : s.stop?.())
    rmSync(workDir, { recursive: true, force: true })
  })

  it('replaces crashed workers without losing a message, and answers 503 while they stay down', async () => {
    const instance = `${runId}-crash`
    const { registryFile, ticks } = fleetFor('workers-crash')
    rmSync(faultFile, { force: true })
    const ingest = await startIngest(instance, registryFile)
    stopLater.push(ingest)
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [topics.telemetry.name, topics.dlq.name],
      (r) => r.headers['gridroot-ingest'] === instance,
    )
    stopLater.push(collector)
    // Replacements die at start from now on, so the crash below leaves the workers down.
    writeFileSync(faultFile, 'crash-at-start')
    const before = ticks(1, 6)
    const after = ticks(7, 12)
    await publisher.publish([...before.slice(0, 10), fault('{}', 'crash-worker'), ...before.slice(10)])
    const down = await untilHealth(ingest, hasReason('ADMISSION_WORKER_DOWN'), 'workers down')
    expect(down.body.reasons.find((r) => r.code === 'ADMISSION_WORKER_DOWN')?.detail).toContain('crashing')
    // Admission goes on meanwhile (on the main thread, slower).
    await publisher.publish(after)
    writeFileSync(faultFile, '')
    await untilHealth(ingest, (h) => h.status === 200, 'workers replaced')
    expect(await ingest.metric('gridroot_ingest_admission_workers_running')).toBe(2)
    expect(await ingest.metric('gridroot_ingest_admission_worker_crashes')).toBeGreaterThanOrEqual(2)

    const genuine = [...before, ...after]
    await collector.waitFor(
      (r) => r.length >= genuine.length + 1,
      60_000,
      'every message in telemetry.v1, the crashing one in the DLQ',
    )
    const accepted = collector.records.filter((r) => r.topic === topics.telemetry.name)
    // Exactly once each: the messages a crashed worker held were admitted again, not twice.
    expect(accepted.map((r) => b64(r.value)).sort()).toEqual(genuine.map((p) => b64(p.payload)).sort())
    const dlq = collector.records.filter((r) => r.topic === topics.dlq.name)
    // The message that crashes every worker it is handed to is a poison one: retried alone until
    // GRIDROOT_INGEST_ADMISSION_MAX_LOSSES, then dead-lettered with the reason, never lost.
    expect(dlq.map((r) => r.headers['gridroot-reason'])).toEqual(['ADMISSION_WORKER_LOST'])
    expect(await ingest.metric('gridroot_ingest_messages_in_flight')).toBe(0)
  })

  it('answers 503 ADMISSION_WORKER_STUCK for a worker in a loop; the other worker takes what comes after', async () => {
    const instance = `${runId}-hang`
    const { registryFile, ticks } = fleetFor('workers-hang')
    rmSync(faultFile, { force: true })
    const ingest = await startIngest(instance, registryFile)
    stopLater.push(ingest)
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [topics.telemetry.name, topics.dlq.name],
      (r) => r.headers['gridroot-ingest'] === instance,
    )
    stopLater.push(collector)
    // Not awaited: it is never acknowledged (the hung worker holds it).
    void publisher.publish([fault('{}', 'hang-worker')])
    const stuck = await untilHealth(ingest, hasReason('ADMISSION_WORKER_STUCK'), 'worker stuck')
    expect(stuck.body.reasons.map((r) => r.code)).toEqual(['ADMISSION_WORKER_STUCK'])
    // Not awaited either: Mosquitto hands a shared subscription's messages round robin, also to
    // the connection that holds the hung message, where they queue behind it.
    const later = ticks(1, 6)
    void publisher.publish(later)
    await collector.waitFor(
      (r) => r.length >= later.length / 2,
      60_000,
      'the later messages (all but those queued behind the hung connection) in telemetry.v1',
    )
    const wanted = new Set(later.map((p) => b64(p.payload)))
    expect(
      collector.records.every((r) => r.topic === topics.telemetry.name && wanted.has(b64(r.value))),
    ).toBe(true)
    expect((await healthOf(ingest)).status).toBe(503)
    await ingest.kill('SIGKILL')
  })
})
