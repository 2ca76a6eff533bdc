/**
 * Ingest against the real Mosquitto and Kafka: a simulated fleet's messages arrive in
 * telemetry.v1 byte for byte; every fault lands where it should with its reason; SIGKILL
 * mid-stream loses nothing.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { DLQ_TOPIC, TELEMETRY_TOPIC } from '../../core/kafka/topics.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { createMqttPublisher, type MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type FaultRates, type Publish, Scenario } from '../../simulators/scenario.ts'
import { startKafkaCollector } from '../support/kafka-collector.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const SAMPLE_MS = 300_000
const grid = { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: SAMPLE_MS }
const workDir = mkdtempSync(join(tmpdir(), 'gridroot-ingest-test-'))
const runId = `t${Date.now().toString(36)}`

function scenarioFor(seed: string, faults: Partial<FaultRates>, hours: number, batchSize = 1) {
  const fleet = createFleet({ seed, chargers: 6, pv: 4, swap: 4, startMs: START, sampleMs: SAMPLE_MS })
  const registryFile = join(workDir, `${seed}.registry.json`)
  writeFileSync(registryFile, JSON.stringify(fleet.registry()))
  const scenario = new Scenario(fleet, { grid, faults, batchSize })
  const publishes: Publish[][] = []
  for (let t = START + SAMPLE_MS; t <= START + hours * 3_600_000; t += SAMPLE_MS)
    publishes.push(scenario.tick(t))
  publishes.push(scenario.flush())
  return { scenario, registryFile, ticks: publishes, all: publishes.flat() }
}

async function startIngest(
  instance: string,
  registryFile: string,
  extraEnv: Record<string, string> = {},
): Promise<ServiceProcess> {
  const ingest = await startServiceProcess(
    'services/ingest/main.ts',
    {
      ...endpointsToEnv(endpoints),
      GRIDROOT_REGISTRY_FILE: registryFile,
      GRIDROOT_INGEST_INSTANCE: instance,
      GRIDROOT_INGEST_SHARED_GROUP: `${instance}-group`,
      GRIDROOT_INGEST_MQTT_CONNECTIONS: '8',
      GRIDROOT_INGEST_VERIFY_WORKERS: '2',
      // A stale session on the shared broker collects a copy of every later test's messages.
      GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '120',
      ...extraEnv,
    },
    'GRIDROOT_INGEST_METRICS_PORT',
  )
  await ingest.waitHealthy()
  return ingest
}

const fromInstance = (instance: string) => (r: { headers: Record<string, string> }) =>
  r.headers['gridroot-ingest'] === instance
const b64 = (b: Buffer) => b.toString('base64')
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('ingest (real Mosquitto + Kafka)', () => {
  let publisher: MqttPublisher
  const stopLater: { stop?: () => Promise<void>; kill?: (s: NodeJS.Signals) => Promise<unknown> }[] = []

  beforeAll(async () => {
    publisher = await createMqttPublisher(endpoints.mqtt, {
      connections: 4,
      inflightPerConnection: 32,
      clientIdPrefix: `${runId}-pub`,
    })
  })
  afterAll(async () => {
    await publisher.close()
    for (const s of stopLater) await (s.kill ? s.kill('SIGTERM') : s.stop?.())
    rmSync(workDir, { recursive: true, force: true })
  })

  it('delivers every reading of a fleet to telemetry.v1 exactly as published, keyed by device', async () => {
    const instance = `${runId}-clean`
    const run = scenarioFor('ingest-clean', {}, 3, 2)
    const ingest = await startIngest(instance, run.registryFile)
    stopLater.push(ingest)
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [TELEMETRY_TOPIC.name, DLQ_TOPIC.name],
      fromInstance(instance),
    )
    stopLater.push(collector)
    const publishedFromMs = Date.now()
    for (const tick of run.ticks) await publisher.publish(tick)
    await collector.waitFor((r) => r.length >= run.all.length, 60_000, 'all messages in Kafka')
    await new Promise((r) => setTimeout(r, 500))
    expect(collector.records.every((r) => r.topic === TELEMETRY_TOPIC.name)).toBe(true)
    // The record timestamp is ingest's MQTT receive time (the aggregator's clock-skew reference).
    const receivedMs = collector.records.map((r) => r.timestampMs)
    expect(Math.min(...receivedMs)).toBeGreaterThanOrEqual(publishedFromMs)
    expect(Math.max(...receivedMs)).toBeLessThanOrEqual(Date.now())
    expect(collector.records.map((r) => `${r.key}:${b64(r.value)}`).sort()).toEqual(
      run.all.map((p) => `${p.deviceId}:${b64(p.payload)}`).sort(),
    )
    expect(await ingest.metric('gridroot_ingest_readings_accepted_total')).toBe(
      run.scenario.counters.genuineReadings,
    )
  })

  it('sends each fault class where it belongs, with its reason, and loses no genuine reading', async () => {
    const instance = `${runId}-faults`
    const faults = {
      duplicate: 0.05,
      reorder: 0.05,
      late: 0.02,
      offline: 0.01,
      clockSkew: 0.01,
      meterReplace: 0.005,
      malformed: 0.03,
      badSignature: 0.03,
      unknownDevice: 0.03,
      replay: 0.03,
      oversize: 0.01,
    }
    const run = scenarioFor('ingest-faults', faults, 4)
    const injected = run.scenario.counters.injected
    for (const kind of [
      'duplicate',
      'malformed',
      'badSignature',
      'unknownDevice',
      'replay',
      'oversize',
    ] as const) {
      expect(injected[kind], `${kind} injected`).toBeGreaterThan(0)
    }
    const ingest = await startIngest(instance, run.registryFile)
    stopLater.push(ingest)
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [TELEMETRY_TOPIC.name, DLQ_TOPIC.name],
      fromInstance(instance),
    )
    stopLater.push(collector)
    for (const tick of run.ticks) await publisher.publish(tick)
    await collector.waitFor((r) => r.length >= run.all.length, 60_000, 'every publish in Kafka')

    const dlq = collector.records.filter((r) => r.topic === DLQ_TOPIC.name)
    const byReason = (reason: string) => dlq.filter((r) => r.headers['gridroot-reason'] === reason)
    expect(byReason('MALFORMED_JSON').length).toBe(injected.malformed)
    expect(byReason('BAD_SIGNATURE').length).toBe(injected.badSignature)
    expect(byReason('UNKNOWN_DEVICE').length).toBe(injected.unknownDevice)
    expect(byReason('PAYLOAD_TOO_LARGE').length).toBe(injected.oversize)
    expect(dlq.length).toBe(
      injected.malformed + injected.badSignature + injected.unknownDevice + injected.oversize,
    )
    // The DLQ keeps the original bytes; longer than the bound (by default the maximum message
    // size: only oversize ones), their start, with the sha256 of the whole beside it.
    const junk = run.all.filter((p) =>
      ['malformed', 'badSignature', 'unknownDevice', 'oversize'].includes(p.kind),
    )
    const original = (r: (typeof dlq)[number]) => r.headers['gridroot-original-sha256'] ?? sha256(r.value)
    expect(dlq.map(original).sort()).toEqual(junk.map((p) => sha256(p.payload)).sort())
    for (const r of byReason('PAYLOAD_TOO_LARGE')) {
      const whole = junk.find((p) => sha256(p.payload) === r.headers['gridroot-original-sha256'])
      expect(whole?.payload.subarray(0, r.value.length).equals(r.value)).toBe(true)
      expect(r.headers['gridroot-original-bytes']).toBe(String(whole?.payload.length))
    }
    expect(byReason('BAD_SIGNATURE')[0]?.headers['gridroot-detail']).toMatch(/does not verify/)

    // Genuine messages, duplicates and replays are valid and signed: all reach telemetry.v1,
    // where the aggregator deduplicates by (deviceId, seq).
    const accepted = collector.records
      .filter((r) => r.topic === TELEMETRY_TOPIC.name)
      .map((r) => b64(r.value))
      .sort()
    const expected = run.all
      .filter((p) => ['genuine', 'duplicate', 'replay'].includes(p.kind))
      .map((p) => b64(p.payload))
      .sort()
    expect(accepted).toEqual(expected)
    expect(await ingest.metric('gridroot_ingest_messages_rejected_total', { reason: 'BAD_SIGNATURE' })).toBe(
      injected.badSignature,
    )
    expect(await ingest.metric('gridroot_ingest_messages_rejected_total', { reason: 'MALFORMED_JSON' })).toBe(
      injected.malformed,
    )
  })

  it('loses no reading when ingest is SIGKILLed mid-stream and restarted', async () => {
    const instance = `${runId}-crash`
    const run = scenarioFor('ingest-crash', {}, 12)
    let ingest = await startIngest(instance, run.registryFile)
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [TELEMETRY_TOPIC.name],
      fromInstance(instance),
    )
    stopLater.push(collector)
    const third = Math.floor(run.ticks.length / 3)
    const publishing = (async () => {
      for (const tick of run.ticks) {
        await publisher.publish(tick)
        await new Promise((r) => setTimeout(r, 15))
      }
    })()
    await collector.waitFor((r) => r.length >= third, 60_000, 'a third of the stream')
    expect(await ingest.kill('SIGKILL')).toBe(null)
    const atKill = collector.records.length
    // Publishing goes on while ingest is down; the broker keeps the session's messages.
    await new Promise((r) => setTimeout(r, 1000))
    ingest = await startIngest(instance, run.registryFile)
    stopLater.push(ingest)
    await publishing
    const wanted = new Set(run.all.map((p) => b64(p.payload)))
    await collector.waitFor(
      (records) => {
        const seen = new Set(records.map((r) => b64(r.value)))
        for (const w of wanted) if (!seen.has(w)) return false
        return true
      },
      90_000,
      'every published message after the restart',
    )
    // The kill really was mid-stream, and the restarted process delivered the rest.
    expect(atKill).toBeLessThan(wanted.size / 2)
    // Redelivery may repeat a message that Kafka had acknowledged just before the kill; it never drops one.
    expect(collector.records.length).toBeGreaterThanOrEqual(wanted.size)
  })

  it('drains in-flight messages on SIGTERM: a graceful restart neither loses nor repeats a message', async () => {
    const instance = `${runId}-drain`
    const run = scenarioFor('ingest-drain', {}, 12)
    let ingest = await startIngest(instance, run.registryFile)
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [TELEMETRY_TOPIC.name],
      fromInstance(instance),
    )
    stopLater.push(collector)
    const publishing = (async () => {
      for (const tick of run.ticks) {
        await publisher.publish(tick)
        await new Promise((r) => setTimeout(r, 15))
      }
    })()
    await collector.waitFor((r) => r.length >= run.all.length / 4, 60_000, 'a quarter of the stream')
    expect(await ingest.kill('SIGTERM')).toBe(0)
    const atStop = collector.records.length
    ingest = await startIngest(instance, run.registryFile)
    stopLater.push(ingest)
    await publishing
    await collector.waitFor(
      (r) => r.length >= run.all.length,
      90_000,
      'every published message after the restart',
    )
    await new Promise((r) => setTimeout(r, 1000))
    expect(atStop).toBeLessThan(run.all.length)
    expect(collector.records.map((r) => b64(r.value)).sort()).toEqual(
      run.all.map((p) => b64(p.payload)).sort(),
    )
  })

  it('keeps deployments on one broker apart by GRIDROOT_MQTT_TOPIC_PREFIX, and records unprefixed topics', async () => {
    const run = scenarioFor('ingest-prefix', {}, 1)
    const [a, b] = [`${runId}-pfx-a`, `${runId}-pfx-b`]
    const ingestA = await startIngest(a, run.registryFile, { GRIDROOT_MQTT_TOPIC_PREFIX: `${a}/` })
    stopLater.push(ingestA)
    const ingestB = await startIngest(b, run.registryFile, { GRIDROOT_MQTT_TOPIC_PREFIX: `${b}/site/` })
    stopLater.push(ingestB)
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [TELEMETRY_TOPIC.name, DLQ_TOPIC.name],
      (r) => fromInstance(a)(r) || fromInstance(b)(r),
    )
    stopLater.push(collector)
    const underA = await createMqttPublisher(endpoints.mqtt, {
      connections: 2,
      inflightPerConnection: 16,
      clientIdPrefix: `${a}-pub`,
      topicPrefix: `${a}/`,
    })
    try {
      for (const tick of run.ticks) await underA.publish(tick)
      const first = run.all[0] as Publish
      await underA.publish([{ ...first, payload: Buffer.from('not json') }])
      // The same devices without a prefix, and under a prefix that only starts like B's.
      await publisher.publish(run.all.slice(0, 5))
      const nearB = run.all.slice(0, 5).map((p) => ({ ...p, topic: `${b}/${p.topic}` }))
      await publisher.publish(nearB)
      await collector.waitFor((r) => r.length >= run.all.length + 1, 60_000, "all of A's messages in Kafka")
      // Long enough for anything misrouted to B, or a second copy to A, to show.
      await new Promise((r) => setTimeout(r, 2_000))
    } finally {
      await underA.close()
    }
    const [ofA, ofB] = [collector.records.filter(fromInstance(a)), collector.records.filter(fromInstance(b))]
    expect(ofB).toEqual([])
    const accepted = ofA.filter((r) => r.topic === TELEMETRY_TOPIC.name)
    expect(accepted.map((r) => `${r.key}:${b64(r.value)}`).sort()).toEqual(
      run.all.map((p) => `${p.deviceId}:${b64(p.payload)}`).sort(),
    )
    // The DLQ names the topic as the device's own, without the deployment's namespace.
    const dead = ofA.filter((r) => r.topic === DLQ_TOPIC.name)
    expect(dead.map((r) => [r.key, r.headers['gridroot-mqtt-topic']])).toEqual([
      [run.all[0]?.deviceId, run.all[0]?.topic],
    ])
    expect(await ingestA.metric('gridroot_ingest_readings_accepted_total')).toBe(
      run.scenario.counters.genuineReadings,
    )
    expect(await ingestB.metric('gridroot_ingest_readings_accepted_total')).toBe(0)
  })
})
