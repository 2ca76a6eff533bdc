/**
 * Telemetry v2 through the real Mosquitto, ingest and Kafka: the record in telemetry.v1 is the
 * payload byte for byte, and the body in it is exactly what the device signed (checked with
 * node:crypto against the registry key, not with the project's own verifier); a tampered body is
 * BAD_SIGNATURE in the DLQ with its original bytes; strictness and the v1 switch hold end to end.
 */
import { verify } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { publicKeyFromHex } from '../../core/identity/keys.ts'
import { DLQ_TOPIC, TELEMETRY_TOPIC } from '../../core/kafka/topics.ts'
import { decodeAcceptedRecord } from '../../core/telemetry/decode.ts'
import { encodeV1, signV2Body } from '../../core/telemetry/sign.ts'
import { TELEMETRY_V2_SIGNING_DOMAIN, V2_BODY_OFFSET } from '../../core/telemetry/signed.ts'
import { telemetryTopic } from '../../core/telemetry/topic.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { createMqttPublisher, type MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type Publish, Scenario } from '../../simulators/scenario.ts'
import { type CollectedRecord, startKafkaCollector } from '../support/kafka-collector.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const SAMPLE_MS = 300_000
const grid = { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: SAMPLE_MS }
const workDir = mkdtempSync(join(tmpdir(), 'gridroot-telemetry-v2-test-'))
const runId = `v2${Date.now().toString(36)}`
const b64 = (b: Buffer) => b.toString('base64')

const fleet = createFleet({
  seed: `${runId}-fleet`,
  chargers: 3,
  pv: 2,
  swap: 2,
  startMs: START,
  sampleMs: SAMPLE_MS,
})
const registryFile = join(workDir, 'registry.json')
writeFileSync(registryFile, JSON.stringify(fleet.registry()))
const pv = fleet.devices.find((d) => d.record.assetClass === 'pv')
if (!pv) throw new Error('the fleet has no PV plant')
const pvTopic = telemetryTopic('pv', pv.record.deviceId)
const pvReading = (seq: number) =>
  `{"type":"pv.inverter","seq":${seq},"ts":${START + seq * 1000},"registerWh":${1000 + seq},"acPowerW":10,"irradianceWm2":5,"status":"MPPT"}`
const junk = (payload: Buffer): Publish => ({
  topic: pvTopic,
  payload,
  deviceId: pv.record.deviceId,
  kind: 'genuine',
  readings: 1,
})

async function startIngest(instance: string, extra: Record<string, string> = {}): Promise<ServiceProcess> {
  const ingest = await startServiceProcess(
    'services/ingest/main.ts',
    {
      ...endpointsToEnv(endpoints),
      GRIDROOT_REGISTRY_FILE: registryFile,
      GRIDROOT_INGEST_INSTANCE: instance,
      GRIDROOT_INGEST_SHARED_GROUP: `${instance}-group`,
      GRIDROOT_INGEST_MQTT_CONNECTIONS: '4',
      GRIDROOT_INGEST_VERIFY_WORKERS: '1',
      ...extra,
    },
    'GRIDROOT_INGEST_METRICS_PORT',
  )
  await ingest.waitHealthy()
  return ingest
}

/** Whether a telemetry.v1 record's body verifies, by node:crypto, as exactly what was signed. */
function bodyVerifies(record: CollectedRecord): boolean {
  const value = record.value
  const sig = Buffer.from(value.subarray(14, 14 + 88).toString('latin1'), 'base64')
  const body = value.subarray(V2_BODY_OFFSET, value.length - 1)
  const device = fleet.devices.find((d) => d.record.deviceId === record.key)
  if (!device) return false
  const key = publicKeyFromHex(device.record.publicKey)
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key])
  return verify(
    null,
    Buffer.concat([Buffer.from(TELEMETRY_V2_SIGNING_DOMAIN), body]),
    { key: spki, format: 'der', type: 'spki' },
    sig,
  )
}

describe('telemetry v2 through real Mosquitto, ingest and Kafka', () => {
  let publisher: MqttPublisher
  const stopLater: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    publisher = await createMqttPublisher(endpoints.mqtt, {
      connections: 2,
      inflightPerConnection: 32,
      clientIdPrefix: `${runId}-pub`,
    })
  })
  afterAll(async () => {
    await publisher.close()
    for (const stop of stopLater) await stop()
    rmSync(workDir, { recursive: true, force: true })
  })

  it('archives exactly the signed bytes, and dead-letters a tampered body as BAD_SIGNATURE', async () => {
    const instance = `${runId}-v2`
    const scenario = new Scenario(fleet, { grid, batchSize: 3, faults: { badSignature: 0.2 } })
    const publishes: Publish[] = []
    for (let t = START + SAMPLE_MS; t <= START + 2 * 3_600_000; t += SAMPLE_MS)
      publishes.push(...scenario.tick(t))
    publishes.push(...scenario.flush())
    // A body in the device's own spelling (key order, whitespace), validly signed: kept verbatim.
    const ownSpelling = signV2Body(
      Buffer.from(`{ "readings": [${pvReading(1)}],\n  "boot": 9, "deviceId": "${pv.record.deviceId}" }`),
      pv.privateKey,
    )
    // Validly signed but ambiguous: a key twice, a number as 1.0.
    const duplicateKey = signV2Body(
      Buffer.from(`{"deviceId":"${pv.record.deviceId}","boot":9,"boot":10,"readings":[${pvReading(2)}]}`),
      pv.privateKey,
    )
    const fraction = signV2Body(
      Buffer.from(
        `{"deviceId":"${pv.record.deviceId}","boot":10,"readings":[${pvReading(3).replace('"acPowerW":10', '"acPowerW":10.0')}]}`,
      ),
      pv.privateKey,
    )
    const v1 = encodeV1(pv.record.deviceId, [JSON.parse(pvReading(4))], pv.privateKey)
    const extra = [ownSpelling, duplicateKey, fraction, v1].map(junk)
    const genuine = publishes.filter((p) => p.kind === 'genuine')
    const tampered = publishes.filter((p) => p.kind === 'badSignature')
    expect(genuine.length).toBeGreaterThan(20)
    expect(tampered.length).toBeGreaterThan(0)

    const ingest = await startIngest(instance)
    stopLater.push(() => ingest.kill('SIGTERM'))
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [TELEMETRY_TOPIC.name, DLQ_TOPIC.name],
      (r) => r.headers['gridroot-ingest'] === instance,
    )
    stopLater.push(() => collector.stop())
    const all = [...publishes, ...extra]
    await publisher.publish(all)
    await collector.waitFor((r) => r.length >= all.length, 90_000, 'every publish in Kafka')

    const accepted = collector.records.filter((r) => r.topic === TELEMETRY_TOPIC.name)
    const dlq = collector.records.filter((r) => r.topic === DLQ_TOPIC.name)
    // telemetry.v1 holds the payloads byte for byte…
    expect(accepted.map((r) => `${r.key}:${b64(r.value)}`).sort()).toEqual(
      [...genuine, junk(ownSpelling), junk(v1)].map((p) => `${p.deviceId}:${b64(p.payload)}`).sort(),
    )
    // …and the body inside each v2 record is exactly what the device signed.
    const v2Records = accepted.filter((r) => r.value.subarray(0, 7).toString() === '{"v":2,')
    expect(v2Records.length).toBe(genuine.length + 1)
    expect(v2Records.every(bodyVerifies)).toBe(true)
    const own = accepted.find((r) => r.value.equals(ownSpelling))
    expect(own && decodeAcceptedRecord(own.value)).toMatchObject({
      v: 2,
      boot: 9,
      deviceId: pv.record.deviceId,
    })

    const reasonOf = (payload: Buffer) => dlq.find((r) => r.value.equals(payload))?.headers['gridroot-reason']
    expect(tampered.map((p) => reasonOf(p.payload))).toEqual(tampered.map(() => 'BAD_SIGNATURE'))
    expect(reasonOf(duplicateKey)).toBe('DUPLICATE_KEY')
    expect(reasonOf(fraction)).toBe('NUMBER_FORM')
    expect(dlq.length).toBe(tampered.length + 2)
    expect(await ingest.metric('gridroot_ingest_messages_rejected_total', { reason: 'BAD_SIGNATURE' })).toBe(
      tampered.length,
    )
  })

  it('rejects v1 as UNSUPPORTED_VERSION once GRIDROOT_INGEST_ACCEPT_V1=false, and still takes v2', async () => {
    const instance = `${runId}-nov1`
    const ingest = await startIngest(instance, { GRIDROOT_INGEST_ACCEPT_V1: 'false' })
    stopLater.push(() => ingest.kill('SIGTERM'))
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [TELEMETRY_TOPIC.name, DLQ_TOPIC.name],
      (r) => r.headers['gridroot-ingest'] === instance,
    )
    stopLater.push(() => collector.stop())
    const v1 = encodeV1(pv.record.deviceId, [JSON.parse(pvReading(11))], pv.privateKey)
    const v2 = signV2Body(
      Buffer.from(`{"deviceId":"${pv.record.deviceId}","boot":11,"readings":[${pvReading(1)}]}`),
      pv.privateKey,
    )
    await publisher.publish([junk(v1), junk(v2)])
    await collector.waitFor((r) => r.length >= 2, 60_000, 'both publishes in Kafka')
    const where = (payload: Buffer) => collector.records.find((r) => r.value.equals(payload))
    expect(where(v1)?.topic).toBe(DLQ_TOPIC.name)
    expect(where(v1)?.headers['gridroot-reason']).toBe('UNSUPPORTED_VERSION')
    expect(where(v2)?.topic).toBe(TELEMETRY_TOPIC.name)
  })
})
