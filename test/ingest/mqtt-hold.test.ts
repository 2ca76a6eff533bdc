/**
 * What mqtt.js 5.16 does when a QoS 1 message is held (its PUBACK waits for Kafka), on the real
 * Mosquitto: as is, the connection times out after 1.5 × keepalive and the message comes again
 * beside the first handling; ingest's MQTT source keeps the connection and handles it once.
 */
import type { MqttClient } from 'mqtt'
import { pino } from 'pino'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { connectMqtt, createMqttClient } from '../../runtime/clients/mqtt.ts'
import { startMqttSource } from '../../services/ingest/adapters/mqtt-source.ts'

const endpoints = inject('endpoints')
const runId = `t${Date.now().toString(36)}`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const HOLD_MS = 4_000

async function waitFor(what: string, timeoutMs: number, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

/** Removes a persistent session from the broker: connect with a clean start, leave. */
async function forgetSession(clientId: string) {
  const c = await connectMqtt(endpoints.mqtt, { clientId, clean: true, reconnectPeriod: 0 })
  await c.endAsync(true)
}

describe('a held QoS 1 message and the MQTT keepalive (real Mosquitto)', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined)
  })

  it('mqtt.js as is: the connection times out behind the held message, which is then delivered again', async () => {
    const clientId = `${runId}-raw`
    const topic = `${runId}/raw/telemetry`
    const deliveries: number[] = []
    let closes = 0
    const acks: ((code: number) => void)[] = []
    const client: MqttClient = createMqttClient(endpoints.mqtt, {
      clientId,
      clean: false,
      keepalive: 1,
      properties: { sessionExpiryInterval: 60 },
      customHandleAcks: (_topic, _payload, packet, done) => {
        deliveries.push(packet.messageId ?? -1)
        acks.push(done)
      },
    })
    cleanups.push(
      () => forgetSession(clientId),
      () => client.endAsync(true),
    )
    client.on('close', () => closes++)
    client.on('error', () => undefined)
    await new Promise((r) => client.once('connect', r))
    await client.subscribeAsync(topic, { qos: 1 })
    const publisher = await connectMqtt(endpoints.mqtt, { clientId: `${runId}-rawpub`, clean: true })
    cleanups.push(() => publisher.endAsync(true))
    await publisher.publishAsync(topic, 'held', { qos: 1 })
    // Nothing acknowledges it for HOLD_MS, 4 × keepalive.
    await waitFor('the first delivery', 5_000, () => deliveries.length >= 1)
    await waitFor('a second delivery of the same message', HOLD_MS, () => deliveries.length >= 2)
    expect(closes).toBeGreaterThanOrEqual(1)
    expect(deliveries[1]).toBe(deliveries[0])
    acks.at(-1)?.(0)
  })

  it("ingest's source keeps the connection and handles the held message once", async () => {
    const prefix = `${runId}-src`
    const topic = `${runId}/src/telemetry`
    let handled = 0
    let reconnects = 0
    const source = await startMqttSource(
      endpoints.mqtt,
      {
        connections: 1,
        sharedGroup: `${runId}-hold`,
        topicPrefix: '',
        topicFilter: topic,
        clientIdPrefix: prefix,
        sessionExpirySec: 60,
        staleSessions: [],
        keepaliveSec: 1,
      },
      async () => {
        handled++
        await sleep(HOLD_MS)
      },
      pino({ level: 'silent' }),
      { onReconnect: () => reconnects++ },
    )
    cleanups.push(() => forgetSession(`${prefix}-0`))
    const publisher = await connectMqtt(endpoints.mqtt, { clientId: `${runId}-srcpub`, clean: true })
    cleanups.push(() => publisher.endAsync(true))
    await publisher.publishAsync(topic, 'held', { qos: 1 })
    await waitFor('the message handled', 5_000, () => handled >= 1)
    await waitFor('the handling to end', HOLD_MS + 2_000, () => source.inFlight === 0)
    await sleep(1_500)
    expect(handled).toBe(1)
    expect(reconnects).toBe(0)
    expect(source.downLongerThan(0, Date.now())).toBe(0)
    await source.drain(2_000)
    // Acknowledged: the session holds nothing more for this client.
    let redelivered = 0
    const again = createMqttClient(endpoints.mqtt, {
      clientId: `${prefix}-0`,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    })
    again.on('message', () => redelivered++)
    await new Promise((r) => again.once('connect', r))
    await sleep(1_500)
    await again.endAsync(true)
    expect(redelivered).toBe(0)
  })
})
