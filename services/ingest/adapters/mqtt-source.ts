/**
 * Receives device telemetry over MQTT 5 through a shared subscription, so several ingest
 * processes (and several connections in each) split the load. A QoS 1 message is PUBACKed only
 * when the handler's promise resolves, i.e. after Kafka has acknowledged it; until then the
 * broker keeps it, and redelivers it if this process dies.
 *
 * mqtt.js handles the packets of one connection one at a time and sends the PUBACK at the end
 * (`customHandleAcks`), so concurrency comes from the number of connections: in-flight messages
 * are bounded by it, which is also what bounds memory when Kafka is slow.
 */
import type { MqttClient } from 'mqtt'
import { connectMqtt } from '../../../runtime/clients/mqtt.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { Logger } from '../../../runtime/log.ts'

export interface MqttSourceOptions {
  readonly connections: number
  readonly sharedGroup: string
  readonly topicFilter: string
  readonly clientIdPrefix: string
  /** How long the broker keeps a disconnected connection's session (and its queued messages). */
  readonly sessionExpirySec: number
}

export type MessageHandler = (topic: string, payload: Buffer, receivedAtMs: number) => Promise<void>

export interface MqttSource {
  readonly inFlight: number
  /** Stops taking new messages, waits for in-flight ones to be acknowledged, disconnects. */
  drain(timeoutMs: number): Promise<void>
}

const PUBACK_SUCCESS = 0
const SUBSCRIBE_DEADLINE_MS = 30_000

/**
 * Subscribes, riding out a connection that drops meanwhile (a broker still tearing down the
 * previous session of the same client id after a crash does that): mqtt.js reconnects by
 * itself, and the subscription is asked for again.
 */
async function subscribeWithRetry(client: MqttClient, subscription: string, logger: Logger): Promise<void> {
  const deadline = Date.now() + SUBSCRIBE_DEADLINE_MS
  for (let attempt = 1; ; attempt++) {
    try {
      await client.subscribeAsync(subscription, { qos: 1 })
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      logger.warn({ err: error, attempt, clientId: client.options.clientId }, 'subscribe failed; retrying')
      await new Promise((r) => setTimeout(r, 500))
    }
  }
}

export async function startMqttSource(
  endpoint: Endpoints['mqtt'],
  options: MqttSourceOptions,
  handler: MessageHandler,
  logger: Logger,
): Promise<MqttSource> {
  let draining = false
  let inFlight = 0
  let drained: (() => void) | undefined
  const settle = () => {
    inFlight -= 1
    if (draining && inFlight === 0) drained?.()
  }
  const subscription = `$share/${options.sharedGroup}/${options.topicFilter}`

  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: options.connections }, async (_, i) => {
      const clientId = `${options.clientIdPrefix}-${i}`
      const client = await connectMqtt(endpoint, {
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: options.sessionExpirySec },
        customHandleAcks: (topic, payload, packet, done) => {
          // Held forever while draining: never acknowledged here, the broker redelivers it.
          if (draining) return
          inFlight += 1
          handler(topic, payload, Date.now()).then(
            () => {
              settle()
              done(PUBACK_SUCCESS)
            },
            (error: unknown) => {
              settle()
              logger.error({ err: error, topic, messageId: packet.messageId }, 'message not acknowledged')
            },
          )
        },
      })
      client.on('message', (topic, payload, packet) => {
        // QoS 0 has no acknowledgement to hold back; QoS 1 arrives here only after its PUBACK.
        if (packet.qos === 0 && !draining) {
          inFlight += 1
          handler(topic, payload, Date.now()).then(settle, settle)
        }
      })
      client.on('error', (error) => logger.warn({ err: error, clientId }, 'mqtt connection error'))
      client.on('reconnect', () => logger.info({ clientId }, 'mqtt reconnecting'))
      await subscribeWithRetry(client, subscription, logger)
      return client
    }),
  )
  logger.info({ subscription, connections: clients.length }, 'subscribed')

  return {
    get inFlight() {
      return inFlight
    },
    async drain(timeoutMs) {
      draining = true
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((r) => (drained = r)),
          new Promise<void>((r) => setTimeout(r, timeoutMs).unref()),
        ])
      }
      // Not forced: the PUBACKs just sent must leave the socket before it closes, or the broker
      // redelivers those messages to the next session as duplicates. Messages held back above
      // stay unacknowledged with the broker for the next session.
      await Promise.all(
        clients.map((c) =>
          Promise.race([c.endAsync(false), new Promise((r) => setTimeout(r, 5_000).unref())]).then(() =>
            c.endAsync(true),
          ),
        ),
      )
    },
  }
}
