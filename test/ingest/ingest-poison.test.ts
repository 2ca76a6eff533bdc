/**
 * Messages that take ingest's admission workers down (issue 8, "ingest must never stop"), on a
 * Mosquitto of this test's own (these payloads crash or hang the admission of whichever ingest
 * receives them: never on the shared broker, where other ingests subscribe) and the shared Kafka
 * under a topic prefix of its own.
 *
 * - `{"v":[[[…]]]}`, 100,000 brackets deep in 200 KB, from any client, unsigned: JSON.parse reads
 *   it, and the detail of its rejection was written with JSON.stringify, which overflowed the
 *   stack. The RangeError crashed the worker it was handed to, then the next, then failed on the
 *   main thread: the message was never acknowledged, and its connection (Receive Maximum 1)
 *   took no further message. It must be dead-lettered as what it is, UNSUPPORTED_VERSION.
 * - a message that makes the worker loop (the test worker's hook for device `hang-worker`,
 *   test/ingest/support/faulty-admit-worker.mjs): the worker never answered and the message
 *   waited for good. Each hung worker must be terminated after GRIDROOT_INGEST_ADMISSION_TIMEOUT_MS
 *   and replaced, and after two losses on that message alone it must be dead-lettered as
 *   ADMISSION_WORKER_LOST, acknowledged.
 *
 * Both DLQ records are bounded (GRIDROOT_INGEST_DLQ_MAX_VALUE_BYTES) with the size and sha256 of
 * the whole original; every genuine message around them reaches telemetry.v1 exactly once.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { topicSet } from '../../core/kafka/topics.ts'
import { telemetryTopic } from '../../core/telemetry/topic.ts'
import { ensureTopics } from '../../runtime/clients/kafka.ts'
import { type Endpoints, endpointsToEnv } from '../../runtime/endpoints.ts'
import { createMqttPublisher, type MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type Publish, Scenario } from '../../simulators/scenario.ts'
import { type KafkaCollector, startKafkaCollector } from '../support/kafka-collector.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'
import { type DedicatedServer, startDedicatedMosquitto } from './dedicated-servers.ts'

const shared = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const SAMPLE_MS = 300_000
const DLQ_MAX_VALUE_BYTES = 4096
const workDir = mkdtempSync(join(tmpdir(), 'gridroot-ingest-poison-'))
const runId = `p${Date.now().toString(36)}`
const topics = topicSet(`${runId}.`)
const b64 = (b: Buffer) => b.toString('base64')
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('messages that crash or hang admission workers (dedicated Mosquitto, shared Kafka)', () => {
  let mosquitto: DedicatedServer<Endpoints['mqtt']>
  let publisher: MqttPublisher
  let ingest: ServiceProcess | undefined
  let collector: KafkaCollector | undefined

  beforeAll(async () => {
    mosquitto = await startDedicatedMosquitto(join(workDir, 'mosquitto'))
    publisher = await createMqttPublisher(mosquitto.endpoint, {
      connections: 2,
      inflightPerConnection: 16,
      clientIdPrefix: `${runId}-pub`,
    })
  })
  afterAll(async () => {
    await publisher?.close()
    await collector?.stop().catch(() => undefined)
    await ingest?.kill('SIGTERM')
    await mosquitto?.close()
    rmSync(workDir, { recursive: true, force: true })
  })

  it('dead-letters them (bounded, with their digest), acknowledges them, and admits everything else', async () => {
    const fleet = createFleet({
      seed: 'poison',
      chargers: 3,
      pv: 3,
      swap: 2,
      startMs: START,
      sampleMs: SAMPLE_MS,
    })
    const registryFile = join(workDir, 'registry.json')
    writeFileSync(registryFile, JSON.stringify(fleet.registry()))
    const scenario = new Scenario(fleet, {
      grid: { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: SAMPLE_MS },
      faults: {},
      batchSize: 1,
    })
    const ticks = (from: number, to: number) => {
      const out: Publish[] = []
      for (let i = from; i < to; i++) out.push(...scenario.tick(START + i * SAMPLE_MS))
      return out
    }
    ingest = await startServiceProcess(
      'test/ingest/support/faulty-ingest-main.ts',
      {
        ...endpointsToEnv({ ...shared, mqtt: mosquitto.endpoint }),
        GRIDROOT_KAFKA_TOPIC_PREFIX: `${runId}.`,
        GRIDROOT_REGISTRY_FILE: registryFile,
        GRIDROOT_INGEST_INSTANCE: `${runId}-ingest`,
        GRIDROOT_INGEST_MQTT_CONNECTIONS: '4',
        GRIDROOT_INGEST_VERIFY_WORKERS: '2',
        GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '120',
        GRIDROOT_INGEST_ADMISSION_TIMEOUT_MS: '1500',
        GRIDROOT_INGEST_DLQ_MAX_VALUE_BYTES: String(DLQ_MAX_VALUE_BYTES),
      },
      'GRIDROOT_INGEST_METRICS_PORT',
    )
    await ingest.waitHealthy()
    await ensureTopics(shared.kafka, topics.all)
    collector = await startKafkaCollector(shared.kafka, [topics.telemetry.name, topics.dlq.name], () => true)

    const depth = 100_000
    const nested: Publish = {
      topic: telemetryTopic('pv', 'pv-000001'),
      payload: Buffer.from(`{"v":${'['.repeat(depth)}${']'.repeat(depth)}}`),
      deviceId: 'pv-000001',
      kind: 'malformed',
      readings: 0,
    }
    const hang: Publish = {
      topic: telemetryTopic('pv', 'hang-worker'),
      payload: Buffer.from(`{"v":1,"padding":"${'x'.repeat(10_000)}"}`),
      deviceId: 'hang-worker',
      kind: 'malformed',
      readings: 0,
    }
    const before = ticks(1, 4)
    const after = ticks(4, 8)
    // Awaited: the publisher resolves on PUBACK, which ingest sends once Kafka has each message,
    // the two poison messages included (their DLQ records).
    await publisher.publish([...before.slice(0, 5), nested, ...before.slice(5), hang])
    await publisher.publish(after)

    const genuine = [...before, ...after]
    await collector.waitFor(
      (r) => r.length >= genuine.length + 2,
      90_000,
      'every genuine message in telemetry.v1 and the two poison messages in the DLQ',
    )
    const accepted = collector.records.filter((r) => r.topic === topics.telemetry.name)
    expect(accepted.map((r) => b64(r.value)).sort()).toEqual(genuine.map((p) => b64(p.payload)).sort())
    const dlq = collector.records.filter((r) => r.topic === topics.dlq.name)
    const byReason = new Map(dlq.map((r) => [r.headers['gridroot-reason'], r]))
    expect([...byReason.keys()].sort()).toEqual(['ADMISSION_WORKER_LOST', 'UNSUPPORTED_VERSION'])
    const unsupported = byReason.get('UNSUPPORTED_VERSION')
    expect(unsupported?.headers['gridroot-detail']).toBe('v is an array of 1, expected 2 or 1')
    const lost = byReason.get('ADMISSION_WORKER_LOST')
    expect(lost?.headers['gridroot-detail']).toMatch(/^2 admission workers lost on this message alone/)
    for (const [record, original] of [
      [unsupported, nested],
      [lost, hang],
    ] as const) {
      expect(record?.value.length).toBe(DLQ_MAX_VALUE_BYTES)
      expect(record?.value.equals(original.payload.subarray(0, DLQ_MAX_VALUE_BYTES))).toBe(true)
      expect(record?.headers['gridroot-original-bytes']).toBe(String(original.payload.length))
      expect(record?.headers['gridroot-original-sha256']).toBe(sha256(original.payload))
    }

    // Nothing waits, every worker is back, and /healthz says so.
    expect(await ingest.metric('gridroot_ingest_messages_in_flight')).toBe(0)
    const deadline = Date.now() + 30_000
    let health = await fetch(`http://127.0.0.1:${ingest.metricsPort}/healthz`)
    while (health.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200))
      health = await fetch(`http://127.0.0.1:${ingest.metricsPort}/healthz`)
    }
    expect(health.status).toBe(200)
    // The gauge follows /healthz: two workers terminated on the looping message at least.
    expect(await ingest.metric('gridroot_ingest_admission_worker_crashes')).toBeGreaterThanOrEqual(2)
  })
})
