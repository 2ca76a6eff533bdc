/**
 * The MQTT client ids of ingest's persistent sessions (pure). The broker keeps a session, its
 * subscriptions and its queued messages under the client id, across ingest restarts, so the id
 * must name everything a session's subscription depends on:
 * - the shared group is in it: a restart with another GRIDROOT_INGEST_SHARED_GROUP resumes none
 *   of the old group's sessions (which would keep the old `$share/<group>/…` subscription beside
 *   the new one: every message twice);
 * - the connection number n < GRIDROOT_INGEST_MQTT_CONNECTIONS is last, so the sessions beyond the
 *   configured count after a scale-down are `prefix-count`, `prefix-count+1`, …, which start-up
 *   drains (adapters/mqtt-session-drain.ts).
 * - so is the MQTT topic prefix (GRIDROOT_MQTT_TOPIC_PREFIX), for the same reason: the session's
 *   subscription is `$share/<group>/<prefix>gridroot/v1/+/+/telemetry`;
 * The group goes in as a short hash: group names may contain '-' like instance names, and a
 * hash keeps `<instance>-<group>` from reading as another instance's prefix. The topic prefix is
 * hashed in front of the group (it ends in '/', which no group name holds, so no two pairs hash
 * the same input), and without a prefix the id is what it was before prefixes existed.
 */
import { createHash } from 'node:crypto'

export function sessionClientIdPrefix(instance: string, sharedGroup: string, topicPrefix = ''): string {
  const group = createHash('sha256').update(`${topicPrefix}${sharedGroup}`).digest('hex').slice(0, 8)
  return `${instance}-g${group}`
}

/**
 * Before the group was in the id (attack8 F1), ids were `<instance>-<n>`: those sessions are all
 * stale once the new ids are in use, and start-up drains them from n = 0.
 */
export function legacyClientIdPrefix(instance: string): string {
  return instance
}

export function sessionClientId(prefix: string, n: number): string {
  return `${prefix}-${n}`
}

/**
 * The topic a draining session publishes to itself once: the broker queues it behind everything
 * the session holds, so its arrival says that the queue is empty. Outside the telemetry filter.
 */
export function drainMarkerTopic(clientId: string, topicPrefix = ''): string {
  return `${topicPrefix}gridroot/ingest/drain/${clientId}`
}
