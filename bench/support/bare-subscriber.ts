/**
 * The baseline consumer of the batched ingest benchmark, run as its own process like ingest:
 * mqtt.js with the same shared subscription over the same number of connections at QoS 1, doing
 * nothing with a message but count it (mqtt.js PUBACKs it at once). What ingest does on top,
 * decode, verify, produce to Kafka and PUBACK after the Kafka ack, is what the ratio prices.
 *
 * Driven over IPC: `{ type: 'arm', messages }` makes it time the next `messages` messages (it
 * answers `{ type: 'armed' }` at once, which the parent awaits before pausing it, since after a
 * SIGCONT MQTT packets may be read before a pending IPC message) and then answer
 * `{ type: 'done', firstAtMs, lastAtMs, messages }` (wall-clock ms with sub-ms precision,
 * so the parent can compare); `{ type: 'count' }` answers `{ type: 'count', messages }`.
 * Configuration: the endpoint variables, BENCH_BARE_CONNECTIONS, BENCH_BARE_GROUP.
 */
import type { MqttClient } from 'mqtt'
import { TELEMETRY_TOPIC_FILTER } from '../../core/telemetry/topic.ts'
import { connectMqtt } from '../../runtime/clients/mqtt.ts'
import { endpointsFromEnv } from '../../runtime/config.ts'

export type BareSubscriberRequest = { type: 'arm'; messages: number } | { type: 'count' }
export type BareSubscriberReply =
  | { type: 'ready' }
  | { type: 'armed' }
  | { type: 'done'; firstAtMs: number; lastAtMs: number; messages: number }
  | { type: 'count'; messages: number }

const nowMs = () => performance.timeOrigin + performance.now()

async function main(): Promise<void> {
  const endpoints = endpointsFromEnv(process.env)
  const connections = Number(process.env.BENCH_BARE_CONNECTIONS ?? '64')
  const group = process.env.BENCH_BARE_GROUP ?? `bench-bare-${process.pid}`
  const send = (reply: BareSubscriberReply) => process.send?.(reply)

  let messages = 0
  let armedAt = 0
  let target = 0
  let firstAtMs = 0
  const onMessage = () => {
    messages += 1
    if (target === 0) return
    if (messages === armedAt + 1) firstAtMs = nowMs()
    if (messages === armedAt + target) {
      send({ type: 'done', firstAtMs, lastAtMs: nowMs(), messages: target })
      target = 0
    }
  }

  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      const client = await connectMqtt(endpoints.mqtt, {
        clientId: `${group}-${i}`,
        clean: true,
        properties: { sessionExpiryInterval: 0 },
      })
      client.on('message', onMessage)
      await client.subscribeAsync(`$share/${group}/${TELEMETRY_TOPIC_FILTER}`, { qos: 1 })
      return client
    }),
  )

  const stop = () => {
    void Promise.all(clients.map((c) => c.endAsync(true))).finally(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('disconnect', stop)
  process.on('message', (request: BareSubscriberRequest) => {
    if (request.type === 'arm') {
      armedAt = messages
      target = request.messages
      send({ type: 'armed' })
    } else {
      send({ type: 'count', messages })
    }
  })
  send({ type: 'ready' })
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
