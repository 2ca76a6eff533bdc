/**
 * Ingest against the real Mosquitto and Kafka with what the broker refuses: a 2 MB publish, a
 * backlog of near-limit messages of one device, a record over a topic limit lowered while ingest
 * runs. None of them may stop ingest: what Kafka cannot take is dead-lettered, bounded, and
 * every other message reaches telemetry.v1 (issue 8, "Ingest must never stop").
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Admin } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { topicSet } from '../../core/kafka/topics.ts'
import { createKafka, topicMaxMessageBytes } from '../../runtime/clients/kafka.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { createMqttPublisher, type MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import { createFleet, type FleetSpec } from '../../simulators/fleet/fleet.ts'
import { type Publish, Scenario } from '../../simulators/scenario.ts'
import { startKafkaCollector } from '../support/kafka-collector.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const SAMPLE_MS = 300_000
const grid = { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: SAMPLE_MS }
const workDir = mkdtempSync(join(tmpdir(), 'gridroot-ingest-limits-'))
const runId = `t${Date.now().toString(36)}`
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const b64 = (b: Buffer) => b.toString('base64')

function fleetFor(seed: string, spec: Omit<FleetSpec, 'seed' | 'startMs' | 'sampleMs'>, batchSize: number) {
  const fleet = createFleet({ seed, ...spec, startMs: START, sampleMs: SAMPLE_MS })
  const registryFile = join(workDir, `${seed}.registry.json`)
  writeFileSync(registryFile, JSON.stringify(fleet.registry()))
  return { scenario: new Scenario(fleet, { grid, faults: {}, batchSize }), registryFile }
}

async function startIngest(instance: string, registryFile: string, env: Record<string, string> = {}) {
  const ingest = await startServiceProcess(
    'services/ingest/main.ts',
    {
      ...endpointsToEnv(endpoints),
      GRIDROOT_REGISTRY_FILE: registryFile,
      GRIDROOT_INGEST_INSTANCE: instance,
      GRIDROOT_INGEST_SHARED_GROUP: `${instance}-group`,
      GRIDROOT_INGEST_MQTT_CONNECTIONS: '8',
      GRIDROOT_INGEST_VERIFY_WORKERS: '1',
      // A stale session on the shared broker collects a copy of every later test's messages.
      GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '120',
      ...env,
    },
    'GRIDROOT_INGEST_METRICS_PORT',
  )
  await ingest.waitHealthy()
  return ingest
}

const fromInstance = (instance: string) => (r: { headers: Record<string, string> }) =>
  r.headers['gridroot-ingest'] === instance

async function healthOf(ingest: ServiceProcess) {
  const res = await fetch(`http://127.0.0.1:${ingest.metricsPort}/healthz`)
  return { status: res.status, body: (await res.json()) as { ok: boolean; reasons: { code: string }[] } }
}

describe('ingest with what Kafka refuses (real Mosquitto + Kafka)', () => {
  let publisher: MqttPublisher
  let admin: Admin
  const stopLater: { stop?: () => Promise<void>; kill?: (s: NodeJS.Signals) => Promise<unknown> }[] = []

  beforeAll(async () => {
    publisher = await createMqttPublisher(endpoints.mqtt, {
      connections: 2,
      inflightPerConnection: 16,
      clientIdPrefix: `${runId}-pub`,
    })
    admin = createKafka(endpoints.kafka, `${runId}-admin`).admin()
    await admin.connect()
  })
  afterAll(async () => {
    await publisher.close()
    await admin.disconnect()
    for (const s of stopLater) await (s.kill ? s.kill('SIGTERM') : s.stop?.())
    rmSync(workDir, { recursive: true, force: true })
  })

  it('keeps going after 2 MB publishes: they reach the DLQ cut to the bound, the messages after them telemetry.v1', async () => {
    const instance = `${runId}-2mb`
    const { scenario, registryFile } = fleetFor('limits-2mb', { chargers: 3, pv: 3, swap: 2 }, 1)
    const ingest = await startIngest(instance, registryFile)
    stopLater.push(ingest)
    const topics = topicSet()
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [topics.telemetry.name, topics.dlq.name],
      fromInstance(instance),
    )
    stopLater.push(collector)
    // A device's genuine signed message padded to 2 MB, and 2 MB from anyone.
    const first = scenario.tick(START + SAMPLE_MS)
    const genuine = first[0] as Publish
    const signed = JSON.parse(genuine.payload.toString()) as Record<string, unknown>
    const bigSigned = Buffer.from(JSON.stringify({ ...signed, padding: 'x'.repeat(2 * 1024 * 1024) }))
    const bigJunk = Buffer.alloc(2 * 1024 * 1024 + 17, 'y')
    const big: Publish[] = [
      { ...genuine, payload: bigSigned, kind: 'oversize' },
      { ...genuine, payload: bigJunk, kind: 'oversize' },
    ]
    const normal: Publish[] = [...first]
    for (let t = START + 2 * SAMPLE_MS; t <= START + 12 * SAMPLE_MS; t += SAMPLE_MS)
      normal.push(...scenario.tick(t))
    await publisher.publish(big)
    await publisher.publish(normal)

    const wanted = new Set(normal.map((p) => b64(p.payload)))
    await collector.waitFor(
      (records) =>
        records.filter((r) => r.topic === topics.dlq.name).length >= 2 &&
        records.filter((r) => r.topic === topics.telemetry.name).length >= wanted.size,
      60_000,
      'both 2 MB messages in the DLQ and every normal one in telemetry.v1',
    )
    const accepted = collector.records.filter((r) => r.topic === topics.telemetry.name)
    expect(new Set(accepted.map((r) => b64(r.value)))).toEqual(wanted)
    const dlq = collector.records.filter((r) => r.topic === topics.dlq.name)
    expect(dlq.map((r) => r.headers['gridroot-reason'])).toEqual(['PAYLOAD_TOO_LARGE', 'PAYLOAD_TOO_LARGE'])
    for (const r of dlq) {
      const whole = [bigSigned, bigJunk].find((b) => sha256(b) === r.headers['gridroot-original-sha256'])
      expect(whole, 'the DLQ record names its original by sha256').toBeDefined()
      // Cut to GRIDROOT_INGEST_DLQ_MAX_VALUE_BYTES (default: the 256 KiB maximum message size).
      expect(r.value.length).toBe(256 * 1024)
      expect(whole?.subarray(0, r.value.length).equals(r.value)).toBe(true)
      expect(r.headers['gridroot-original-bytes']).toBe(String(whole?.length))
    }
    expect(await ingest.metric('gridroot_ingest_dlq_truncated_total')).toBe(2)
    expect(await ingest.metric('gridroot_ingest_messages_in_flight')).toBe(0)
    expect((await healthOf(ingest)).status).toBe(200)
  })

  it('produces a backlog of near-limit messages of one device in requests the broker takes', async () => {
    const instance = `${runId}-backlog`
    // One PV plant's long backlog, 2000 readings per message, all keyed by one device (so one
    // partition), waiting in ingest's session while ingest restarts.
    const { scenario, registryFile } = fleetFor('limits-backlog', { chargers: 0, pv: 1, swap: 0 }, 2000)
    const backlog = scenario.tick(START + 16_000 * SAMPLE_MS)
    const brokerLimit =
      (await topicMaxMessageBytes(admin, [topicSet().telemetry.name])).get(topicSet().telemetry.name) ?? 0
    const totalBytes = backlog.reduce((n, p) => n + p.payload.length, 0)
    // The test means something only if one request with all of them (8, one per connection)
    // would be refused, while each alone is a valid message.
    expect(backlog.length).toBe(8)
    expect(totalBytes).toBeGreaterThan(brokerLimit)
    expect(Math.max(...backlog.map((p) => p.payload.length))).toBeLessThan(256 * 1024)
    // A long linger puts everything that arrives together in one request.
    const env = { GRIDROOT_INGEST_KAFKA_LINGER_MS: '1000', GRIDROOT_INGEST_MAX_READINGS_PER_MESSAGE: '2000' }
    const first = await startIngest(instance, registryFile, env)
    await first.kill('SIGTERM')
    await publisher.publish(backlog)
    const ingest = await startIngest(instance, registryFile, env)
    stopLater.push(ingest)
    const topics = topicSet()
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [topics.telemetry.name, topics.dlq.name],
      fromInstance(instance),
    )
    stopLater.push(collector)
    await collector.waitFor((r) => r.length >= backlog.length, 60_000, 'the whole backlog in telemetry.v1')
    expect(collector.records.every((r) => r.topic === topics.telemetry.name)).toBe(true)
    expect(collector.records.map((r) => b64(r.value)).sort()).toEqual(
      backlog.map((p) => b64(p.payload)).sort(),
    )
    // Several requests, none refused.
    expect(await ingest.metric('gridroot_ingest_kafka_batch_records_count')).toBeGreaterThan(1)
    expect(await ingest.metric('gridroot_ingest_kafka_produce_errors_total', { kind: 'record' })).toBe(0)
  })

  it('dead-letters a record over a topic limit lowered while ingest runs, and delivers the rest', async () => {
    const instance = `${runId}-lowered`
    const prefix = `${runId}-lowered.`
    const topics = topicSet(prefix)
    // 300 readings per message on the first tick (~40 KB each), then one reading per message.
    const { scenario, registryFile } = fleetFor('limits-lowered', { chargers: 2, pv: 2, swap: 0 }, 300)
    const bigOnes = scenario.tick(START + 300 * SAMPLE_MS)
    const small: Publish[] = []
    for (let t = START + 301 * SAMPLE_MS; t <= START + 310 * SAMPLE_MS; t += SAMPLE_MS)
      small.push(...scenario.tick(t))
    const limit = 8_000
    expect(Math.min(...bigOnes.map((p) => p.payload.length))).toBeGreaterThan(limit)
    expect(Math.max(...small.map((p) => p.payload.length))).toBeLessThan(limit / 4)
    const ingest = await startIngest(instance, registryFile, { GRIDROOT_KAFKA_TOPIC_PREFIX: prefix })
    stopLater.push(ingest)
    // Someone lowers the topic's limit after ingest read it at start.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: 2,
          name: topics.telemetry.name,
          configEntries: [{ name: 'max.message.bytes', value: String(limit) }],
        },
      ],
    })
    // (AlterConfigs replaces the topic's overrides; this topic is the test's own.) The broker
    // answers before the new limit shows everywhere.
    const currentLimit = async () =>
      (await topicMaxMessageBytes(admin, [topics.telemetry.name])).get(topics.telemetry.name)
    for (let i = 0; i < 50 && (await currentLimit()) !== limit; i++)
      await new Promise((r) => setTimeout(r, 200))
    expect(await currentLimit()).toBe(limit)
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [topics.telemetry.name, topics.dlq.name],
      () => true,
    )
    stopLater.push(collector)
    // Small and big ones mixed in the same requests.
    await publisher.publish([...small.slice(0, 5), ...bigOnes, ...small.slice(5)])
    await collector.waitFor(
      (r) => r.length >= bigOnes.length + small.length,
      60_000,
      'every message in telemetry.v1 or the DLQ',
    )
    const dlq = collector.records.filter((r) => r.topic === topics.dlq.name)
    expect(dlq.map((r) => r.headers['gridroot-reason'])).toEqual(bigOnes.map(() => 'KAFKA_RECORD_TOO_LARGE'))
    // Under the DLQ's bound: kept whole, with the MQTT topic it came on.
    expect(dlq.map((r) => b64(r.value)).sort()).toEqual(bigOnes.map((p) => b64(p.payload)).sort())
    expect(dlq.map((r) => r.headers['gridroot-mqtt-topic']).sort()).toEqual(
      bigOnes.map((p) => p.topic).sort(),
    )
    const accepted = collector.records.filter((r) => r.topic === topics.telemetry.name)
    expect(new Set(accepted.map((r) => b64(r.value)))).toEqual(new Set(small.map((p) => b64(p.payload))))
    expect(
      await ingest.metric('gridroot_ingest_messages_rejected_total', { reason: 'KAFKA_RECORD_TOO_LARGE' }),
    ).toBe(bigOnes.length)
    expect(
      await ingest.metric('gridroot_ingest_kafka_produce_errors_total', { kind: 'record' }),
    ).toBeGreaterThan(0)
    expect(await ingest.metric('gridroot_ingest_messages_in_flight')).toBe(0)
    expect((await healthOf(ingest)).status).toBe(200)
    await admin.deleteTopics({ topics: [topics.telemetry.name, topics.dlq.name] }).catch(() => undefined)
  })
})
