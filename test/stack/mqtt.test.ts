import { randomUUID } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { connectMqtt } from '../../runtime/clients/mqtt.ts'

const endpoints = inject('endpoints')
const clients: MqttClient[] = []

async function connect(name: string): Promise<MqttClient> {
  const client = await connectMqtt(endpoints.mqtt, { clientId: `test-stack-${name}-${randomUUID()}` })
  clients.push(client)
  return client
}

function collect(client: MqttClient, count: number) {
  const packets: { topic: string; payload: string; qos: number }[] = []
  const done = new Promise<typeof packets>((resolveDone) => {
    client.on('message', (topic, payload, packet) => {
      packets.push({ topic, payload: payload.toString(), qos: packet.qos })
      if (packets.length === count) resolveDone(packets)
    })
  })
  return { packets, done }
}

afterAll(async () => {
  await Promise.all(clients.map((client) => client.endAsync()))
})

describe('mosquitto (real broker through runtime/clients/mqtt)', () => {
  it('speaks MQTT 5 and delivers QoS 1 publishes at QoS 1, in order', async () => {
    const subscriber = await connect('sub')
    const publisher = await connect('pub')
    expect(subscriber.options.protocolVersion).toBe(5)
    const base = `test/${randomUUID()}`
    const granted = await subscriber.subscribeAsync(`${base}/#`, { qos: 1 })
    expect(granted.map((grant) => grant.qos)).toEqual([1])

    const { done } = collect(subscriber, 5)
    // publishAsync resolves at QoS 1 only once the broker's PUBACK arrived.
    for (let i = 0; i < 5; i++)
      await publisher.publishAsync(`${base}/device-${i}`, `reading-${i}`, { qos: 1 })
    const packets = await done
    expect(packets.map((packet) => packet.payload)).toEqual([0, 1, 2, 3, 4].map((i) => `reading-${i}`))
    expect(packets.every((packet) => packet.qos === 1)).toBe(true)
  })

  it('splits a shared subscription ($share) so each message reaches exactly one member', async () => {
    const members = [await connect('share-a'), await connect('share-b')]
    const publisher = await connect('share-pub')
    const base = `test/${randomUUID()}`
    const received: string[] = []
    for (const member of members) {
      await member.subscribeAsync(`$share/ingest/${base}/+`, { qos: 1 })
      member.on('message', (_topic, payload) => received.push(payload.toString()))
    }
    const sent = Array.from({ length: 20 }, (_, i) => `m-${i}`)
    for (const message of sent) await publisher.publishAsync(`${base}/x`, message, { qos: 1 })
    await expect.poll(() => received.length, { timeout: 5_000 }).toBe(sent.length)
    expect([...received].sort()).toEqual([...sent].sort())
  })
})
