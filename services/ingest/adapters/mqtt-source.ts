/**
 * Receives device telemetry over MQTT 5 through a shared subscription, so several ingest
 * processes (and several connections in each) split the load. A QoS 1 message is PUBACKed only
 * when the handler's promise resolves, i.e. after Kafka has acknowledged it; until then the
 * broker keeps it, and redelivers it if this process dies.
 *
 * mqtt.js handles the packets of one connection one at a time and sends the PUBACK at the end
 * (`customHandleAcks`; QoS 0 through `handleMessage`), so concurrency comes from the number of
 * connections: in-flight messages are bounded by it, which is also what bounds memory when
 * Kafka is slow. Receive Maximum 1 asks the broker to send a connection no second QoS 1 message
 * while one is unacknowledged, so nothing else piles up in the socket meanwhile.
 *
 * Held messages and keepalive (what mqtt.js 5.16 does, test/ingest/mqtt-hold.test.ts): while a
 * message is held, mqtt.js parses no further packet of that connection, PINGRESP included, so
 * after 1.5 × keepalive it declares the connection dead ("Keepalive timeout") and reconnects, and
 * the resumed session redelivers the held message, which would then be handled a second time
 * beside the first. Two things prevent that here:
 * - while a message is held, bytes arriving on the socket (the broker's PINGRESP) count as the
 *   broker being alive and reschedule mqtt.js's keepalive; a broker that stays silent still
 *   times out;
 * - a redelivery (same packet id, topic and bytes) of a message whose first handling is still
 *   running, or has finished after its connection dropped, is joined to it: acknowledged once,
 *   when Kafka has it, on the connection it came in on. A PUBACK never goes out on a later
 *   connection than its message came in on (the packet id may name another message there).
 */
import type { IPublishPacket, MqttClient } from 'mqtt'
import { GridrootError } from '../../../core/errors/base.ts'
import { unprefixedTopic } from '../../../core/telemetry/topic.ts'
import { createMqttClient } from '../../../runtime/clients/mqtt.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { Logger } from '../../../runtime/log.ts'
import { retry } from '../../../runtime/retry.ts'
import { sessionClientId } from '../domain/session-ids.ts'
import type { MessageHandler, MessageSource } from '../ports.ts'
import { type DrainedSession, drainStaleSessions } from './mqtt-session-drain.ts'

export interface MqttSourceOptions {
  readonly connections: number
  readonly sharedGroup: string
  /**
   * The deployment's namespace (GRIDROOT_MQTT_TOPIC_PREFIX, may be empty): subscribed under it,
   * and cut from every topic before the handler sees it (core/telemetry/topic.ts).
   */
  readonly topicPrefix: string
  readonly topicFilter: string
  /** Connection n is `<clientIdPrefix>-n` (domain/session-ids.ts). */
  readonly clientIdPrefix: string
  /**
   * Sessions to drain and end once the connections are subscribed (adapters/mqtt-session-drain.ts):
   * this prefix from `connections` on (a scale-down), and the pre-group-id form from 0.
   */
  readonly staleSessions: readonly { readonly prefix: string; readonly from: number }[]
  /** How long the broker keeps a disconnected connection's session (and its queued messages). */
  readonly sessionExpirySec: number
  readonly keepaliveSec: number
}

export interface MqttSourceEvents {
  onConnectionsChanged?(up: number): void
  onReconnect?(): void
  onRedeliveryJoined?(): void
  onStaleSessionDrained?(session: DrainedSession): void
}

export interface MqttSource extends MessageSource {
  readonly connected: number
}

const PUBACK_SUCCESS = 0
const noLog = () => {}
/** MQTT 5 DISCONNECT reason "Session taken over". */
const SESSION_TAKEN_OVER = 0x8e
const TAKEOVER_LOG_EVERY_MS = 60_000
/** Drops within a window that make a connection flapping (health, and an error log). */
const FLAPPING_DROPS = 3
const FLAPPING_LOG_WINDOW_MS = 30_000

function isFlapping(c: Connection, windowMs: number, nowMs: number): boolean {
  const oldest = c.dropsMs.length >= FLAPPING_DROPS ? c.dropsMs[0] : undefined
  return oldest !== undefined && nowMs - oldest < windowMs
}
const SUBSCRIBE_DEADLINE_MS = 30_000
const CONNECT_DEADLINE_MS = 60_000

/** The broker refused the subscription itself: no retry changes that. */
export class MqttSubscribeRefusedError extends GridrootError<'MQTT_SUBSCRIBE_REFUSED'> {
  override readonly name = 'MqttSubscribeRefusedError'
}

/** One delivery being handled (or handled, but not acknowledged because its connection dropped). */
interface Delivery {
  readonly topic: string
  readonly payload: Buffer
  /** The acknowledgement of the newest delivery of this message and the connection it came in on. */
  ack: (code: number) => void
  epoch: number
  handled: boolean
}

interface Connection {
  readonly client: MqttClient
  readonly clientId: string
  /** Counts the connection's sockets: a PUBACK belongs to the socket its message came in on. */
  epoch: number
  downSinceMs: number | undefined
  /** Last time the broker said another client took this session over. */
  takenOverAtMs: number | undefined
  /** When established connections dropped, newest last (a flapping connection is down too). */
  readonly dropsMs: number[]
  readonly deliveries: Map<number, Delivery>
  holdingQos0: number
}

export async function startMqttSource(
  endpoint: Endpoints['mqtt'],
  options: MqttSourceOptions,
  prefixedHandler: MessageHandler,
  logger: Logger,
  events: MqttSourceEvents = {},
): Promise<MqttSource> {
  const { topicPrefix } = options
  const handler: MessageHandler =
    topicPrefix === ''
      ? prefixedHandler
      : (topic, payload, receivedAtMs) =>
          prefixedHandler(unprefixedTopic(topicPrefix, topic), payload, receivedAtMs)
  let draining = false
  let inFlight = 0
  let up = 0
  let drained: (() => void) | undefined
  let lastFlapLogMs = Number.NEGATIVE_INFINITY
  const settle = () => {
    inFlight -= 1
    if (draining && inFlight === 0) drained?.()
  }
  const subscription = `$share/${options.sharedGroup}/${topicPrefix}${options.topicFilter}`

  const open = async (i: number): Promise<Connection> => {
    const clientId = sessionClientId(options.clientIdPrefix, i)
    const conn: Connection = {
      clientId,
      epoch: 0,
      downSinceMs: undefined,
      takenOverAtMs: undefined,
      dropsMs: [],
      deliveries: new Map(),
      holdingQos0: 0,
      client: createMqttClient(endpoint, {
        clientId,
        clean: false,
        keepalive: options.keepaliveSec,
        properties: { sessionExpiryInterval: options.sessionExpirySec, receiveMaximum: 1 },
        customHandleAcks: (topic, payload, packet, done) => onQos1(conn, topic, payload, packet, done),
      }),
    }
    const { client } = conn
    // mqtt.js calls its debug logger several times per packet, with arguments, even when DEBUG
    // is off (2.6 % of ingest's main thread in the batched profile, issue 8): skipped unless on.
    if (!(client.log as { enabled?: boolean }).enabled) client.log = noLog
    // QoS 0 has no acknowledgement to hold back; holding the packet loop bounds it all the same.
    client.handleMessage = (packet, callback) => {
      if (packet.qos !== 0 || draining) return callback()
      inFlight += 1
      conn.holdingQos0 += 1
      const done = () => {
        settle()
        conn.holdingQos0 -= 1
        callback()
      }
      handler(packet.topic, packet.payload as Buffer, Date.now()).then(done, (error: unknown) => {
        logger.error({ err: error, topic: packet.topic }, 'QoS 0 message not handled')
        done()
      })
    }
    let everConnected = false
    let isUp = false
    client.on('connect', (connack) => {
      if (!isUp) up += 1
      isUp = true
      conn.downSinceMs = undefined
      events.onConnectionsChanged?.(up)
      if (everConnected) {
        events.onReconnect?.()
        logger.info({ clientId, sessionPresent: connack.sessionPresent }, 'mqtt reconnected')
        // Dropped and asked for again even when the broker says it kept the session: Mosquitto
        // 2.0.11 restarted from its persistence file resumes the session and redelivers its
        // queue, yet routes no new message to the restored shared subscription, and subscribing
        // again over it does not help (ingest-outage.test.ts). While one connection does this,
        // the group's other connections take the messages.
        client
          .unsubscribeAsync(subscription)
          .then(() => subscribe(client, clientId))
          .catch((error: unknown) =>
            logger.error({ err: error, clientId }, 'resubscribe after reconnect failed'),
          )
      }
      everConnected = true
      // Without the session nothing is redelivered: a finished handling waits for no one.
      if (!connack.sessionPresent) {
        for (const [id, d] of conn.deliveries) if (d.handled) conn.deliveries.delete(id)
      }
      client.stream.on('data', () => {
        if (conn.deliveries.size > 0 || conn.holdingQos0 > 0) client.reschedulePing(true)
      })
    })
    // Mosquitto ends a session's old connection with DISCONNECT 0x8E when a client with the
    // same id connects: with two processes on one instance name the two take the sessions from
    // each other over and over, each reconnect quick enough to look up.
    client.on('disconnect', (packet) => {
      if (packet.reasonCode !== SESSION_TAKEN_OVER) return
      const nowMs = Date.now()
      if (conn.takenOverAtMs === undefined || nowMs - conn.takenOverAtMs > TAKEOVER_LOG_EVERY_MS) {
        logger.error(
          { clientId, code: 'MQTT_SESSION_TAKEN_OVER' },
          `another MQTT client connected with this session's client id ${clientId}: is a second ingest running with the same GRIDROOT_INGEST_INSTANCE? Give every instance its own GRIDROOT_INGEST_INSTANCE (the client ids are <instance>-g<group hash>-<n>)`,
        )
      }
      conn.takenOverAtMs = nowMs
    })
    // 'close' comes once per socket, also for each failed reconnect attempt.
    client.on('close', () => {
      conn.epoch += 1
      conn.downSinceMs ??= Date.now()
      if (isUp) {
        const nowMs = Date.now()
        conn.dropsMs.push(nowMs)
        if (conn.dropsMs.length > FLAPPING_DROPS) conn.dropsMs.shift()
        // Mosquitto 2.0 closes a taken-over session's connection without a DISCONNECT packet:
        // a connection that comes back at once and is dropped again and again is the sign.
        if (
          isFlapping(conn, FLAPPING_LOG_WINDOW_MS, nowMs) &&
          nowMs - lastFlapLogMs > TAKEOVER_LOG_EVERY_MS
        ) {
          lastFlapLogMs = nowMs
          logger.error(
            { clientId, code: 'MQTT_FLAPPING', drops: conn.dropsMs.length },
            `MQTT connection ${clientId} dropped ${FLAPPING_DROPS} times in ${FLAPPING_LOG_WINDOW_MS / 1000} s although it reconnects at once: most likely another client uses the same client id, i.e. a second ingest runs with the same GRIDROOT_INGEST_INSTANCE (give every instance its own), else the network to the broker is unstable`,
          )
        }
        isUp = false
        up -= 1
        events.onConnectionsChanged?.(up)
      }
    })
    let lastError: Error | undefined
    client.on('error', (error) => {
      lastError = error
      logger.warn({ err: error, clientId }, 'mqtt connection error')
    })
    // mqtt.js retries by itself (a broker busy saving its sessions misses a CONNACK deadline);
    // start-up gives up only after CONNECT_DEADLINE_MS.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.removeListener('connect', ok)
        client.end(true)
        reject(
          new GridrootError(
            'MQTT_CONNECT_FAILED',
            `no MQTT connection to ${endpoint.url} in ${CONNECT_DEADLINE_MS} ms`,
            {
              cause: lastError,
              metaMessages: ['Check GRIDROOT_MQTT_URL and the credentials, and that the broker is up.'],
            },
          ),
        )
      }, CONNECT_DEADLINE_MS)
      const ok = () => {
        clearTimeout(timer)
        resolve()
      }
      client.once('connect', ok)
    })
    await subscribe(client, clientId)
    return conn
  }

  const onQos1 = (
    conn: Connection,
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
    done: (code: number) => void,
  ) => {
    // Held forever while draining: never acknowledged here, the broker redelivers it.
    if (draining) return
    const id = packet.messageId ?? -1
    const epoch = conn.epoch
    const known = conn.deliveries.get(id)
    if (known && known.topic === topic && known.payload.equals(payload)) {
      events.onRedeliveryJoined?.()
      if (known.handled) {
        conn.deliveries.delete(id)
        done(PUBACK_SUCCESS)
      } else {
        known.ack = done
        known.epoch = epoch
      }
      return
    }
    const delivery: Delivery = { topic, payload, ack: done, epoch, handled: false }
    conn.deliveries.set(id, delivery)
    inFlight += 1
    handler(topic, payload, Date.now()).then(
      () => {
        settle()
        delivery.handled = true
        if (delivery.epoch === conn.epoch && conn.client.connected) {
          if (conn.deliveries.get(id) === delivery) conn.deliveries.delete(id)
          delivery.ack(PUBACK_SUCCESS)
        }
        // Otherwise the socket it came in on is gone: its redelivery is acknowledged at once.
      },
      (error: unknown) => {
        settle()
        if (conn.deliveries.get(id) === delivery) conn.deliveries.delete(id)
        logger.error({ err: error, topic, messageId: id }, 'message not acknowledged')
      },
    )
  }

  /**
   * Subscribes through the retry helper, riding out a connection that drops meanwhile (a broker
   * still tearing down the previous session of the same client id after a crash does that);
   * a SUBACK that refuses the subscription is permanent.
   */
  const subscribe = (client: MqttClient, clientId: string) =>
    retry(
      async () => {
        const granted = await client.subscribeAsync(subscription, { qos: 1 })
        const code = granted[0]?.qos ?? 0
        if (code >= 0x80) {
          throw new MqttSubscribeRefusedError(
            'MQTT_SUBSCRIBE_REFUSED',
            `the broker refused ${subscription} (reason code 0x${code.toString(16)})`,
            {
              metaMessages: [
                'The broker must support MQTT 5 shared subscriptions and allow this client to subscribe (ACLs).',
              ],
            },
          )
        }
      },
      {
        operation: 'mqtt subscribe',
        initialDelayMs: 250,
        maxDelayMs: 2_000,
        signal: AbortSignal.timeout(SUBSCRIBE_DEADLINE_MS),
        onRetry: ({ error, attempt }) =>
          logger.warn({ err: error, attempt, clientId }, 'subscribe failed; retrying'),
      },
    )

  const connections = await Promise.all(Array.from({ length: options.connections }, (_, i) => open(i)))
  logger.info(
    { subscription, connections: connections.length, clientIdPrefix: options.clientIdPrefix },
    'subscribed',
  )
  // After the subscriptions above: what a stale session no longer gets goes to these, and a
  // drained message is the group's only copy (the same group), so it reaches Kafka once.
  const stale = await drainStaleSessions(
    endpoint,
    options.staleSessions.map((r) => ({ ...r, subscription })),
    {
      sessionExpirySec: options.sessionExpirySec,
      keepaliveSec: options.keepaliveSec,
      deadlineMs: CONNECT_DEADLINE_MS,
      topicPrefix,
    },
    handler,
    logger,
  )
  for (const session of stale) events.onStaleSessionDrained?.(session)
  logger.info(
    {
      sessions: stale.length,
      messages: stale.reduce((n, d) => n + d.messages, 0),
      drained: stale.map((d) => `${d.clientId}:${d.messages}`),
    },
    'stale sessions drained and ended',
  )

  return {
    get inFlight() {
      return inFlight
    },
    get connected() {
      return up
    },
    connections: options.connections,
    downLongerThan(graceMs, nowMs) {
      let n = 0
      for (const c of connections) if (c.downSinceMs !== undefined && nowMs - c.downSinceMs >= graceMs) n++
      return n
    },
    flappingWithin(windowMs, nowMs) {
      let n = 0
      for (const c of connections) if (isFlapping(c, windowMs, nowMs)) n++
      return n
    },
    takenOverWithin(windowMs, nowMs) {
      let n = 0
      for (const c of connections)
        if (c.takenOverAtMs !== undefined && nowMs - c.takenOverAtMs < windowMs) n++
      return n
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
        connections.map(({ client }) =>
          Promise.race([client.endAsync(false), new Promise((r) => setTimeout(r, 5_000).unref())]).then(() =>
            client.endAsync(true),
          ),
        ),
      )
    },
  }
}
