/**
 * Ingest through a Kafka outage longer than its MQTT keepalive, and an MQTT broker restart in
 * the middle of it, on a Kafka and a Mosquitto of this test's own (stopped and started here;
 * the shared ones are never touched). /healthz must say 503 while Kafka is down and 200 after;
 * the held messages must not cost a keepalive, a reconnect must neither handle a message twice
 * nor break the in-flight bound, and nothing published is lost.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { topicSet } from '../../core/kafka/topics.ts'
import { type Endpoints, endpointsToEnv } from '../../runtime/endpoints.ts'
import { createMqttPublisher, type MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type Publish, Scenario } from '../../simulators/scenario.ts'
import { type KafkaCollector, startKafkaCollector } from '../support/kafka-collector.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'
import { type DedicatedServer, startDedicatedKafka, startDedicatedMosquitto } from './dedicated-servers.ts'

const START = Date.parse('2026-06-01T00:00:00+08:00')
const SAMPLE_MS = 300_000
const CONNECTIONS = 4
const KEEPALIVE_SEC = 2
const workDir = mkdtempSync(join(tmpdir(), 'gridroot-ingest-outage-'))
const runId = `t${Date.now().toString(36)}`
const b64 = (b: Buffer) => b.toString('base64')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function healthOf(ingest: ServiceProcess) {
  const res = await fetch(`http://127.0.0.1:${ingest.metricsPort}/healthz`)
  return { status: res.status, body: (await res.json()) as { reasons?: { code: string }[] } }
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(200)
  }
}

describe('ingest through a Kafka outage and an MQTT restart (dedicated Kafka and Mosquitto)', () => {
  let kafka: DedicatedServer<Endpoints['kafka']>
  let mosquitto: DedicatedServer<Endpoints['mqtt']>
  let publisher: MqttPublisher
  let ingest: ServiceProcess | undefined
  const collectors: KafkaCollector[] = []

  beforeAll(async () => {
    ;[kafka, mosquitto] = await Promise.all([
      startDedicatedKafka(join(workDir, 'kafka')),
      startDedicatedMosquitto(join(workDir, 'mosquitto')),
    ])
    publisher = await createMqttPublisher(mosquitto.endpoint, {
      connections: 2,
      inflightPerConnection: 8,
      clientIdPrefix: `${runId}-pub`,
    })
  })
  afterAll(async () => {
    await publisher?.close()
    for (const c of collectors) await c.stop().catch(() => undefined)
    await ingest?.kill('SIGTERM')
    await Promise.all([kafka?.close(), mosquitto?.close()])
    rmSync(workDir, { recursive: true, force: true })
  })

  it('answers 503 while Kafka is down and 200 after, keeps its connections, loses and repeats nothing', async () => {
    const fleet = createFleet({
      seed: 'outage',
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
    const endpoints: Endpoints = {
      mqtt: mosquitto.endpoint,
      kafka: kafka.endpoint,
      influx: { url: 'http://127.0.0.1:1', token: 'x:x', org: 'x', bucket: 'x/autogen' },
      chain: { rpcUrl: 'http://127.0.0.1:1', chainId: 31337 },
    }
    ingest = await startServiceProcess(
      'services/ingest/main.ts',
      {
        ...endpointsToEnv(endpoints),
        GRIDROOT_REGISTRY_FILE: registryFile,
        GRIDROOT_INGEST_INSTANCE: `${runId}-ingest`,
        GRIDROOT_INGEST_MQTT_CONNECTIONS: String(CONNECTIONS),
        GRIDROOT_INGEST_VERIFY_WORKERS: '1',
        GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '600',
        GRIDROOT_INGEST_MQTT_KEEPALIVE_SEC: String(KEEPALIVE_SEC),
        GRIDROOT_INGEST_HEALTH_GRACE_MS: '2000',
        GRIDROOT_INGEST_HEALTH_STUCK_MS: '4000',
        GRIDROOT_INGEST_KAFKA_PROBE_INTERVAL_MS: '500',
        GRIDROOT_INGEST_KAFKA_RETRY_MAX_DELAY_MS: '1000',
      },
      'GRIDROOT_INGEST_METRICS_PORT',
    )
    await ingest.waitHealthy()
    const service = ingest
    const topics = topicSet()
    const collect = async () => {
      const c = await startKafkaCollector(
        kafka.endpoint,
        [topics.telemetry.name, topics.dlq.name],
        () => true,
      )
      collectors.push(c)
      return c
    }

    // 1. Everything flows.
    const before = ticks(1, 6)
    await publisher.publish(before)
    let collector = await collect()
    await collector.waitFor((r) => r.length >= before.length, 60_000, 'the first messages')
    await collector.stop()

    // 2. Kafka stops. The broker keeps what ingest does not acknowledge; ingest holds one
    // message per connection, and says so.
    await kafka.stop()
    const during = ticks(6, 16)
    const publishing = publisher.publish(during)
    let maxInFlight = 0
    const sampling = setInterval(() => {
      service
        .metric('gridroot_ingest_messages_in_flight')
        .then((n) => {
          maxInFlight = Math.max(maxInFlight, n)
        })
        .catch(() => undefined)
    }, 250)
    const down = await until('/healthz 503', 30_000, async () => {
      const h = await healthOf(service)
      return h.status === 503 ? h : undefined
    })
    const reasons = (down.body.reasons ?? []).map((r) => r.code)
    expect(reasons).toContain('KAFKA_UNREACHABLE')
    // Held for many keepalives: no connection may have timed out behind its held message.
    await sleep(5 * KEEPALIVE_SEC * 1000)
    expect((await healthOf(service)).body.reasons?.map((r) => r.code)).toContain('KAFKA_PRODUCE_STUCK')
    expect(await service.metric('gridroot_ingest_mqtt_reconnects_total')).toBe(0)
    expect(await service.metric('gridroot_ingest_mqtt_connections_up')).toBe(CONNECTIONS)
    expect(await service.metric('gridroot_ingest_messages_in_flight')).toBe(CONNECTIONS)

    // The broker has taken (PUBACKed) every publish: they wait in ingest's sessions.
    await publishing

    // 3. The MQTT broker restarts meanwhile: every connection reconnects, and the resumed
    // sessions redeliver the held messages, which must join their running handling.
    await mosquitto.stop()
    await mosquitto.start()
    await until('MQTT connections back', 30_000, async () =>
      (await service.metric('gridroot_ingest_mqtt_connections_up')) === CONNECTIONS &&
      (await service.metric('gridroot_ingest_mqtt_reconnects_total')) >= CONNECTIONS
        ? true
        : undefined,
    )
    await until('held messages redelivered and joined', 30_000, async () =>
      (await service.metric('gridroot_ingest_mqtt_redeliveries_joined_total')) >= 1 ? true : undefined,
    )
    await sleep(1000)
    expect(await service.metric('gridroot_ingest_messages_in_flight')).toBeLessThanOrEqual(CONNECTIONS)

    // 4. Kafka is back: healthy again, everything published arrives, nothing twice.
    await kafka.start()
    await until('/healthz 200', 60_000, async () =>
      (await healthOf(service)).status === 200 ? true : undefined,
    )
    clearInterval(sampling)
    expect(maxInFlight).toBeLessThanOrEqual(CONNECTIONS)
    collector = await collect()
    const all = [...before, ...during]
    await collector.waitFor(
      (r) => r.length >= all.length,
      60_000,
      'every message published before and during the outage',
    )
    await sleep(1000)
    const seen = collector.records.map((r) => b64(r.value))
    expect(new Set(seen)).toEqual(new Set(all.map((p) => b64(p.payload))))
    expect(seen.length - new Set(seen).size, 'duplicates').toBe(0)
    await collector.stop()

    // 5. After the reconnects each new message is handled once: no handler was added twice.
    const after = ticks(16, 20)
    collector = await collect()
    await publisher.publish(after)
    await collector.waitFor(
      (r) => r.length >= all.length + after.length,
      60_000,
      'the messages after the outage',
    )
    await sleep(1500)
    const fresh = collector.records.filter((r) => after.some((p) => p.payload.equals(r.value)))
    expect(fresh.length).toBe(after.length)
    expect(collector.records.length).toBe(all.length + after.length)
  })
})
