/**
 * Ingest's persistent MQTT sessions after a configuration change (attack8 F1), on the real
 * Mosquitto and Kafka: fewer connections after a restart must not strand the messages queued to
 * the sessions of the connections no longer opened, and another shared group must not leave the
 * old group's subscription on resumed sessions (every message twice). Counts are exact: each
 * check reads telemetry.v1 to its end offsets after ingest has stopped, no sleep.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { TELEMETRY_TOPIC } from '../../core/kafka/topics.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { createMqttPublisher, type MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type Publish, Scenario } from '../../simulators/scenario.ts'
import { startKafkaCollector } from '../support/kafka-collector.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const START = Date.parse('2026-06-01T00:00:00+08:00')
const SAMPLE_MS = 300_000
const workDir = mkdtempSync(join(tmpdir(), 'gridroot-ingest-sessions-'))
const runId = `t${Date.now().toString(36)}`
const b64 = (b: Buffer) => b.toString('base64')

/** 10 devices, one message per device per tick: `count` distinct signed messages. */
function messages(seed: string, count: number) {
  const fleet = createFleet({ seed, chargers: 4, pv: 3, swap: 3, startMs: START, sampleMs: SAMPLE_MS })
  const registryFile = join(workDir, `${seed}.registry.json`)
  writeFileSync(registryFile, JSON.stringify(fleet.registry()))
  const scenario = new Scenario(fleet, {
    grid: { genesisMs: START, epochLengthMs: 3_600_000, intervalMs: SAMPLE_MS },
    faults: {},
    batchSize: 1,
  })
  const all: Publish[] = []
  for (let i = 1; all.length < count; i++) all.push(...scenario.tick(START + i * SAMPLE_MS))
  return { registryFile, all: all.slice(0, count) }
}

describe('ingest sessions after a configuration change (real Mosquitto + Kafka)', () => {
  let publisher: MqttPublisher
  const running = new Set<ServiceProcess>()

  const startIngest = async (env: Record<string, string>) => {
    const ingest = await startServiceProcess(
      'services/ingest/main.ts',
      {
        ...endpointsToEnv(endpoints),
        GRIDROOT_INGEST_VERIFY_WORKERS: '1',
        // A stale session on the shared broker collects a copy of every later test's messages.
        GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '300',
        ...env,
      },
      'GRIDROOT_INGEST_METRICS_PORT',
    )
    running.add(ingest)
    await ingest.waitHealthy()
    return ingest
  }
  const stop = async (ingest: ServiceProcess) => {
    expect(await ingest.kill('SIGTERM'), ingest.output()).toBe(0)
    running.delete(ingest)
  }

  beforeAll(async () => {
    publisher = await createMqttPublisher(endpoints.mqtt, {
      connections: 2,
      inflightPerConnection: 8,
      clientIdPrefix: `${runId}-pub`,
    })
  })
  afterAll(async () => {
    await publisher?.close()
    for (const ingest of running) await ingest.kill('SIGTERM')
    rmSync(workDir, { recursive: true, force: true })
  })

  it('16 connections, then 4: every message reaches telemetry.v1 once, also those queued to the 12 sessions no longer opened', async () => {
    const instance = `${runId}-scale`
    const { registryFile, all } = messages('sessions-scale', 100)
    const env = {
      GRIDROOT_REGISTRY_FILE: registryFile,
      GRIDROOT_INGEST_INSTANCE: instance,
      GRIDROOT_INGEST_SHARED_GROUP: `${runId}-scale-group`,
    }
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [TELEMETRY_TOPIC.name],
      (r) => r.headers['gridroot-ingest'] === instance,
    )
    try {
      await stop(await startIngest({ ...env, GRIDROOT_INGEST_MQTT_CONNECTIONS: '16' }))
      // Ingest is down: the broker queues these to the 16 sessions (PUBACK to the publisher).
      const whileDown = all.slice(0, 40)
      await publisher.publish(whileDown)
      const ingest = await startIngest({ ...env, GRIDROOT_INGEST_MQTT_CONNECTIONS: '4' })
      await publisher.publish(all.slice(40))
      await collector.waitFor(
        (r) => new Set(r.map((x) => b64(x.value))).size >= all.length,
        90_000,
        'all 100 messages in telemetry.v1',
      )
      const drained = await ingest.metric('gridroot_ingest_stale_sessions_drained_total')
      const drainedMessages = await ingest.metric('gridroot_ingest_stale_session_messages_total')
      await stop(ingest)
      await collector.caughtUp(60_000)
      const seen = collector.records.map((r) => b64(r.value))
      expect(seen.length - new Set(seen).size, 'duplicates').toBe(0)
      expect(new Set(seen)).toEqual(new Set(all.map((p) => b64(p.payload))))
      // The 12 surplus sessions held some of what was published while ingest was down.
      expect(drained).toBe(12)
      expect(drainedMessages).toBeGreaterThan(0)

      // They are gone: a third start with 4 connections finds no stale session.
      const again = await startIngest({ ...env, GRIDROOT_INGEST_MQTT_CONNECTIONS: '4' })
      expect(await again.metric('gridroot_ingest_stale_sessions_drained_total')).toBe(0)
      await stop(again)

      // Retiring the instance: what its 4 sessions queued while it was down reaches Kafka once,
      // and `--retire` exits by itself.
      const extra = messages('sessions-scale', 120).all.slice(100)
      await publisher.publish(extra)
      const retire = await startServiceProcess(
        'services/ingest/main.ts',
        {
          ...endpointsToEnv(endpoints),
          ...env,
          GRIDROOT_INGEST_VERIFY_WORKERS: '1',
          GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '300',
          GRIDROOT_INGEST_MQTT_CONNECTIONS: '4',
        },
        'GRIDROOT_INGEST_METRICS_PORT',
        ['--retire'],
      )
      const exitCode =
        retire.child.exitCode ?? (await new Promise((r) => retire.child.once('exit', (code) => r(code))))
      expect(exitCode, retire.output()).toBe(0)
      expect(retire.output()).toContain('ingest instance retired')
      await collector.caughtUp(60_000)
      const afterRetire = collector.records.map((r) => b64(r.value))
      expect(afterRetire.length - new Set(afterRetire).size, 'duplicates').toBe(0)
      expect(new Set(afterRetire)).toEqual(new Set([...all, ...extra].map((p) => b64(p.payload))))
    } finally {
      await collector.stop()
    }
  }, 420_000)

  it('another shared group after a restart: every message reaches telemetry.v1 once', async () => {
    const instance = `${runId}-group`
    const { registryFile, all } = messages('sessions-group', 100)
    const env = {
      GRIDROOT_REGISTRY_FILE: registryFile,
      GRIDROOT_INGEST_INSTANCE: instance,
      GRIDROOT_INGEST_MQTT_CONNECTIONS: '4',
      // Short: the old group's sessions (not read any more) expire soon on the shared broker.
      GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '60',
    }
    const collector = await startKafkaCollector(
      endpoints.kafka,
      [TELEMETRY_TOPIC.name],
      (r) => r.headers['gridroot-ingest'] === instance,
    )
    try {
      await stop(await startIngest({ ...env, GRIDROOT_INGEST_SHARED_GROUP: `${runId}-g1` }))
      const ingest = await startIngest({ ...env, GRIDROOT_INGEST_SHARED_GROUP: `${runId}-g2` })
      await publisher.publish(all)
      await collector.waitFor(
        (r) => new Set(r.map((x) => b64(x.value))).size >= all.length,
        90_000,
        'all 100 messages in telemetry.v1',
      )
      await stop(ingest)
      await collector.caughtUp(60_000)
      const seen = collector.records.map((r) => b64(r.value))
      expect(seen.length - new Set(seen).size, 'duplicates').toBe(0)
      expect(new Set(seen)).toEqual(new Set(all.map((p) => b64(p.payload))))
    } finally {
      await collector.stop()
    }
  }, 420_000)
})
