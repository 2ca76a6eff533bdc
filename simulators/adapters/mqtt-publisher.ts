/**
 * Publishes a fleet's messages over MQTT at QoS 1 through a pool of multiplexed connections (a
 * fleet of thousands of devices does not need thousands of sockets to load a broker). A device
 * always uses the same connection, so its messages leave in the order the scenario gave them.
 */
import type { MqttClient } from 'mqtt'
import { connectMqtt } from '../../runtime/clients/mqtt.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import type { Publish } from '../scenario.ts'

export interface MqttPublisherOptions {
  readonly connections: number
  /** QoS 1 publishes awaiting PUBACK per connection. */
  readonly inflightPerConnection: number
  readonly clientIdPrefix: string
  /** The deployment's MQTT namespace (GRIDROOT_MQTT_TOPIC_PREFIX), put before every topic. */
  readonly topicPrefix?: string
}

export interface MqttPublisher {
  publish(batch: readonly Publish[]): Promise<void>
  close(): Promise<void>
}

function hashString(text: string): number {
  let h = 2166136261
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return h >>> 0
}

export async function createMqttPublisher(
  endpoint: Endpoints['mqtt'],
  options: MqttPublisherOptions,
): Promise<MqttPublisher> {
  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: options.connections }, (_, i) =>
      connectMqtt(endpoint, {
        clientId: `${options.clientIdPrefix}-${i}`,
        clean: true,
        reconnectPeriod: 1000,
      }),
    ),
  )
  const topicPrefix = options.topicPrefix ?? ''
  const publishOn = async (client: MqttClient, items: readonly Publish[]): Promise<void> => {
    let next = 0
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++] as Publish
        await client.publishAsync(`${topicPrefix}${item.topic}`, item.payload, { qos: 1 })
      }
    }
    await Promise.all(Array.from({ length: Math.min(options.inflightPerConnection, items.length) }, worker))
  }
  return {
    async publish(batch) {
      const perClient: Publish[][] = clients.map(() => [])
      for (const item of batch) perClient[hashString(item.deviceId) % clients.length]?.push(item)
      await Promise.all(
        perClient.map((items, i) =>
          items.length > 0 ? publishOn(clients[i] as MqttClient, items) : undefined,
        ),
      )
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync()))
    },
  }
}
