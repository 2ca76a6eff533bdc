/**
 * Two ingest processes started with one GRIDROOT_INGEST_INSTANCE (attack8: both /healthz said ok
 * with 0–29 of 64 connections up), on the real Mosquitto and Kafka: the broker hands each
 * session to whichever connected last, over and over, each reconnect quick enough to look up.
 * /healthz must say so (503 MQTT_FLAPPING: Mosquitto 2.0 closes the old connection without a
 * DISCONNECT 0x8E, so MQTT_SESSION_TAKEN_OVER is for brokers that send it), and the log must name
 * the cause.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const workDir = mkdtempSync(join(tmpdir(), 'gridroot-ingest-takeover-'))
const runId = `t${Date.now().toString(36)}`

async function healthz(p: ServiceProcess): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(`http://127.0.0.1:${p.metricsPort}/healthz`)
    return { status: response.status, body: await response.text() }
  } catch (error) {
    return { status: 0, body: String(error) }
  }
}

describe('two ingest processes with one instance name (real Mosquitto + Kafka)', () => {
  const running: ServiceProcess[] = []
  afterAll(async () => {
    for (const p of running) await p.kill('SIGTERM')
    rmSync(workDir, { recursive: true, force: true })
  })

  it('/healthz says the sessions are taken over, and the log names GRIDROOT_INGEST_INSTANCE', async () => {
    const fleet = createFleet({
      seed: 'takeover',
      chargers: 1,
      pv: 1,
      swap: 1,
      startMs: 0,
      sampleMs: 300_000,
    })
    const registryFile = join(workDir, 'registry.json')
    writeFileSync(registryFile, JSON.stringify(fleet.registry()))
    const env = {
      ...endpointsToEnv(endpoints),
      GRIDROOT_REGISTRY_FILE: registryFile,
      GRIDROOT_INGEST_INSTANCE: `${runId}-same`,
      GRIDROOT_INGEST_SHARED_GROUP: `${runId}-group`,
      GRIDROOT_INGEST_MQTT_CONNECTIONS: '4',
      GRIDROOT_INGEST_VERIFY_WORKERS: '1',
      GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '60',
      GRIDROOT_INGEST_HEALTH_GRACE_MS: '20000',
    }
    const first = await startServiceProcess('services/ingest/main.ts', env, 'GRIDROOT_INGEST_METRICS_PORT')
    running.push(first)
    await first.waitHealthy()
    expect((await healthz(first)).status).toBe(200)
    // The second takes the sessions over: the first's connections are kicked and reconnect,
    // taking them back, and so on.
    const second = await startServiceProcess('services/ingest/main.ts', env, 'GRIDROOT_INGEST_METRICS_PORT')
    running.push(second)
    const deadline = Date.now() + 120_000
    let seen: { status: number; body: string }[] = []
    while (Date.now() < deadline) {
      seen = [await healthz(first), await healthz(second)]
      if (seen.some((h) => h.status === 503 && /MQTT_SESSION_TAKEN_OVER|MQTT_FLAPPING/.test(h.body))) break
      await new Promise((r) => setTimeout(r, 500))
    }
    expect(
      seen.some((h) => h.status === 503 && /MQTT_SESSION_TAKEN_OVER|MQTT_FLAPPING/.test(h.body)),
      `${JSON.stringify(seen)}\n--- first:\n${first.output()}\n--- second:\n${second.output()}`,
    ).toBe(true)
    expect(first.output() + second.output()).toContain('GRIDROOT_INGEST_INSTANCE')
    // One of them stopped: the other keeps its sessions and is healthy again after the grace.
    expect(await second.kill('SIGTERM')).toBe(0)
    await first.waitHealthy(60_000)
  }, 240_000)
})
