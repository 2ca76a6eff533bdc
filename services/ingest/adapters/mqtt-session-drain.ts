/**
 * Drains and ends stale persistent sessions: those of connection numbers beyond the configured
 * count (a scale-down), of the client-id form before the group was in it, or all of an
 * instance being retired (`npm run ingest -- --retire`). A shared subscription keeps handing
 * messages to offline member sessions, where nobody would read them (attack8 F1), so start-up
 * takes what they hold through the normal pipeline (PUBACK after Kafka, as for any message) and
 * then ends them.
 *
 * For ids `prefix-from`, `prefix-from+1`, … in turn: connect with clean=false; if CONNACK says
 * no session was present, disconnect with session expiry 0 (nothing is left behind) and stop
 * there: sessions of one prefix are numbered from 0 without gaps, and the ending below keeps it
 * that way. A present session is drained while the next id is probed:
 * 1. unsubscribe the shared subscription, so the broker routes it nothing new (the group's other
 *    members take it);
 * 2. subscribe to a marker topic of its own and publish one message to it: Mosquitto queues it
 *    behind everything the session holds, so once the marker arrives every queued message has
 *    been handed to the pipeline (Receive Maximum 1: one at a time, each acknowledged first);
 * 3. when all found are drained, end them highest id first, by DISCONNECT with session expiry 0.
 * The drain connects with the configured session expiry, not 0: a crash mid-drain leaves the
 * session and the rest of its queue for the next start. Highest first: a crash while ending
 * leaves `from … k`, found again from `from`.
 */
import type { MqttClient } from 'mqtt'
import { GridrootError } from '../../../core/errors/base.ts'
import { createMqttClient } from '../../../runtime/clients/mqtt.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { Logger } from '../../../runtime/log.ts'
import { drainMarkerTopic, sessionClientId } from '../domain/session-ids.ts'
import type { MessageHandler } from '../ports.ts'

export interface StaleSessionRange {
  readonly prefix: string
  /** The first connection number that is stale (the configured count; 0 to retire). */
  readonly from: number
  /** The shared subscription the sessions hold (unsubscribed first). */
  readonly subscription: string
}

export interface DrainOptions {
  readonly sessionExpirySec: number
  readonly keepaliveSec: number
  /** Longest a connect, or a drain up to its marker, may take before the drain gives up. */
  readonly deadlineMs: number
  /** The marker topic is published under it too (a broker's ACL may allow nothing outside). */
  readonly topicPrefix: string
}

export interface DrainedSession {
  readonly clientId: string
  readonly messages: number
}

const PUBACK_SUCCESS = 0

interface Open {
  readonly clientId: string
  readonly client: MqttClient
  readonly drained: Promise<number>
}

function withDeadline<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new GridrootError('MQTT_SESSION_DRAIN_FAILED', `${what}: no answer in ${ms} ms`)),
        ms,
      )
    }),
  ]).finally(() => clearTimeout(timer))
}

/**
 * Drains the stale sessions of each range (one range after the other) and ends them. Rejects with
 * MQTT_SESSION_DRAIN_FAILED (sessions not yet ended stay, for the next start) when a message
 * cannot be handled or the broker does not answer.
 */
export async function drainStaleSessions(
  endpoint: Endpoints['mqtt'],
  ranges: readonly StaleSessionRange[],
  options: DrainOptions,
  handler: MessageHandler,
  logger: Logger,
): Promise<DrainedSession[]> {
  const drained: DrainedSession[] = []
  for (const range of ranges) {
    const found: Open[] = []
    try {
      for (let n = range.from; ; n++) {
        const open = await probe(endpoint, sessionClientId(range.prefix, n), range, options, handler, logger)
        if (!open) break
        found.push(open)
      }
      const counts = await Promise.all(found.map((o) => o.drained))
      for (let i = found.length - 1; i >= 0; i--) {
        const o = found[i] as Open
        await withDeadline(
          `ending session ${o.clientId}`,
          options.deadlineMs,
          o.client.endAsync(false, { properties: { sessionExpiryInterval: 0 } }),
        )
        drained.push({ clientId: o.clientId, messages: counts[i] ?? 0 })
      }
    } finally {
      // Only after a failure is any still open: closed without DISCONNECT, the session stays.
      for (const o of found) if (!o.client.disconnected) o.client.end(true)
    }
  }
  return drained
}

async function probe(
  endpoint: Endpoints['mqtt'],
  clientId: string,
  range: StaleSessionRange,
  options: DrainOptions,
  handler: MessageHandler,
  logger: Logger,
): Promise<Open | undefined> {
  const marker = drainMarkerTopic(clientId, options.topicPrefix)
  let messages = 0
  // Messages come right after CONNACK, maybe before the drain below has set these up.
  let earlyFailure: unknown
  let failed: (error: unknown) => void = (error) => {
    earlyFailure = error
  }
  let progress: () => void = () => undefined
  let markerSeen: (() => void) | undefined
  const client = createMqttClient(endpoint, {
    clientId,
    clean: false,
    keepalive: options.keepaliveSec,
    // A drop mid-drain fails it: the session stays for the next start, no second socket races it.
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: options.sessionExpirySec, receiveMaximum: 1 },
    customHandleAcks: (topic, payload, _packet, done) => {
      if (topic === marker) {
        done(PUBACK_SUCCESS)
        markerSeen?.()
        return
      }
      messages += 1
      progress()
      handler(topic, payload, Date.now()).then(
        () => {
          progress()
          done(PUBACK_SUCCESS)
        },
        // Not acknowledged: the message stays in the session, which is not ended.
        (error: unknown) => failed(error),
      )
    },
  })
  client.on('error', (error) => logger.warn({ err: error, clientId }, 'stale session drain: mqtt error'))
  const connack = await withDeadline(
    `connecting ${clientId}`,
    options.deadlineMs,
    new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      client.once('connect', resolve)
      client.once('close', () => reject(new Error(`connection of ${clientId} closed before CONNACK`)))
    }),
  ).catch((error: unknown) => {
    client.end(true)
    throw new GridrootError('MQTT_SESSION_DRAIN_FAILED', `no MQTT connection for ${clientId}`, {
      cause: error instanceof Error ? error : undefined,
    })
  })
  client.removeAllListeners('close')
  if (!connack.sessionPresent) {
    await withDeadline(
      `ending probe ${clientId}`,
      options.deadlineMs,
      client.endAsync(false, { properties: { sessionExpiryInterval: 0 } }),
    )
    return undefined
  }
  logger.info({ clientId }, 'stale session found; draining it')
  // An idle deadline, not a total one: a long queue takes as long as Kafka needs for it.
  const drained = new Promise<number>((resolve, reject) => {
    let idle: NodeJS.Timeout | undefined
    const touch = () => {
      clearTimeout(idle)
      idle = setTimeout(
        () => fail(new Error(`no progress for ${options.deadlineMs} ms (${messages} handled)`)),
        options.deadlineMs,
      )
    }
    const fail = (error: unknown) => {
      clearTimeout(idle)
      reject(
        new GridrootError('MQTT_SESSION_DRAIN_FAILED', `stale session ${clientId} not drained`, {
          cause: error instanceof Error ? error : undefined,
          metaMessages: ['The session stays with the broker; the next start drains it again.'],
        }),
      )
    }
    if (earlyFailure !== undefined) return fail(earlyFailure)
    failed = fail
    progress = touch
    markerSeen = () => {
      clearTimeout(idle)
      resolve(messages)
    }
    touch()
    client.once('close', () => fail(new Error(`connection of ${clientId} closed while draining`)))
    client
      .unsubscribeAsync(range.subscription)
      .then(() => client.subscribeAsync(marker, { qos: 1 }))
      .then(() => client.publishAsync(marker, 'drained', { qos: 1 }))
      .catch(fail)
  })
  // Handled by the Promise.all above; this keeps an early failure from being unhandled meanwhile.
  drained.catch(() => undefined)
  return { clientId, client, drained }
}
