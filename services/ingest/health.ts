/**
 * What ingest's /healthz says, from what the adapters report: 503 with the reasons when MQTT or
 * Kafka has been unreachable longer than a grace period, when the producer is stuck (its oldest
 * unacknowledged record is older than a threshold, whatever the cause), or when the Kafka sink has
 * stopped, or when an admission worker is stuck on a hand-off or down after a crash, and while admission workers are still starting (STARTING, not DOWN: nothing crashed), and while the registry no longer matches the chain. A supervisor restarts what answers 503; the grace keeps a reconnect blip from doing so.
 */

import type { AdmitPoolHealth } from './ports.ts'

export const HEALTH_REASONS = {
  MQTT_DISCONNECTED: 'MQTT connections have been down longer than GRIDROOT_INGEST_HEALTH_GRACE_MS',
  MQTT_FLAPPING:
    'MQTT connections dropped 3 times within GRIDROOT_INGEST_HEALTH_GRACE_MS although they reconnect at once: a second ingest with the same GRIDROOT_INGEST_INSTANCE, or an unstable network',
  MQTT_SESSION_TAKEN_OVER:
    'another MQTT client took over ingest sessions within GRIDROOT_INGEST_HEALTH_GRACE_MS: a second ingest with the same GRIDROOT_INGEST_INSTANCE?',
  KAFKA_UNREACHABLE: 'Kafka has not answered for longer than GRIDROOT_INGEST_HEALTH_GRACE_MS',
  KAFKA_PRODUCE_STUCK:
    'the oldest record waiting for Kafka is older than GRIDROOT_INGEST_HEALTH_STUCK_MS (no PUBACK meanwhile)',
  KAFKA_SINK_STOPPED: 'Kafka refused something no record can fix; ingest stops',
  ADMISSION_WORKER_STUCK:
    'an admission worker has not answered a hand-off for longer than GRIDROOT_INGEST_HEALTH_STUCK_MS (a loop, or a thread starved of CPU)',
  ADMISSION_WORKER_DOWN:
    'an admission worker crashed and its replacement is not running (yet); its messages went to the other workers',
  ADMISSION_WORKERS_STARTING:
    'admission workers are still loading at start (the registry is being indexed); messages wait for them',
  REGISTRY_ROOT_MISMATCH:
    "the registry in use no longer hashes to a pool's on-chain registry root (changed on-chain or in the file while running); the detail names each pool and both roots",
  CHAIN_RESET:
    'the chain was reset under ingest (block 0 changed): redeploy (npm run deploy, npm run pools -- apply) and restart ingest',
  CONTRACTS_MISSING:
    'no DeviceRegistry code at the address of GRIDROOT_CONTRACTS_FILE: the chain was reset, or the file is for another chain',
} as const

export type HealthReason = keyof typeof HEALTH_REASONS

export interface HealthInputs {
  readonly nowMs: number
  readonly graceMs: number
  readonly stuckMs: number
  readonly mqtt: {
    readonly connections: number
    readonly connected: number
    readonly downTooLong: number
    /** Connections whose session another client took over within the grace. */
    readonly takenOver?: number
    /** Connections dropped 3 times within the grace. */
    readonly flapping?: number
  }
  readonly kafka: {
    readonly probeFailingSinceMs: number | undefined
    readonly produceFailingSinceMs: number | undefined
    readonly oldestPendingAgeMs: number
    readonly pending: number
    readonly stopped: string | undefined
  }
  readonly inFlight: number
  readonly admission: AdmitPoolHealth
  /** The registry and the chain it is committed on (runtime/registry-onchain.ts, startRegistryWatch). */
  readonly chain?: readonly {
    readonly code: 'REGISTRY_ROOT_MISMATCH' | 'CHAIN_RESET' | 'CONTRACTS_MISSING'
    readonly message: string
  }[]
}

export interface IngestHealth {
  readonly ok: boolean
  readonly reasons: readonly { readonly code: HealthReason; readonly detail: string }[]
  readonly inFlight: number
  readonly mqtt: { readonly connections: number; readonly connected: number }
  readonly kafka: {
    readonly pending: number
    readonly oldestPendingAgeMs: number
    readonly failingForMs: number | undefined
  }
  readonly admission: AdmitPoolHealth
}

export function ingestHealth(i: HealthInputs): IngestHealth {
  const reasons: { code: HealthReason; detail: string }[] = []
  if (i.mqtt.downTooLong > 0) {
    reasons.push({
      code: 'MQTT_DISCONNECTED',
      detail: `${i.mqtt.downTooLong} of ${i.mqtt.connections} MQTT connections down for ${i.graceMs} ms or more`,
    })
  }
  if ((i.mqtt.takenOver ?? 0) > 0) {
    reasons.push({
      code: 'MQTT_SESSION_TAKEN_OVER',
      detail: `${i.mqtt.takenOver} of ${i.mqtt.connections} MQTT sessions taken over by another client with the same client id within ${i.graceMs} ms: give every ingest instance its own GRIDROOT_INGEST_INSTANCE`,
    })
  }
  if ((i.mqtt.flapping ?? 0) > 0) {
    reasons.push({
      code: 'MQTT_FLAPPING',
      detail: `${i.mqtt.flapping} of ${i.mqtt.connections} MQTT connections dropped 3 times within ${i.graceMs} ms although they reconnect at once: most likely a second ingest uses the same GRIDROOT_INGEST_INSTANCE (give every instance its own), else the network to the broker is unstable`,
    })
  }
  const since = [i.kafka.probeFailingSinceMs, i.kafka.produceFailingSinceMs].filter(
    (t): t is number => t !== undefined,
  )
  const failingForMs = since.length > 0 ? i.nowMs - Math.min(...since) : undefined
  if (failingForMs !== undefined && failingForMs >= i.graceMs) {
    reasons.push({ code: 'KAFKA_UNREACHABLE', detail: `Kafka requests failing for ${failingForMs} ms` })
  }
  if (i.kafka.oldestPendingAgeMs >= i.stuckMs) {
    reasons.push({
      code: 'KAFKA_PRODUCE_STUCK',
      detail: `${i.kafka.pending} record(s) waiting, the oldest for ${i.kafka.oldestPendingAgeMs} ms`,
    })
  }
  if (i.kafka.stopped !== undefined) reasons.push({ code: 'KAFKA_SINK_STOPPED', detail: i.kafka.stopped })
  if (i.admission.oldestHandOffAgeMs >= i.stuckMs) {
    reasons.push({
      code: 'ADMISSION_WORKER_STUCK',
      detail: `the oldest hand-off to an admission worker is unanswered for ${i.admission.oldestHandOffAgeMs} ms`,
    })
  }
  if (i.admission.starting > 0) {
    reasons.push({
      code: 'ADMISSION_WORKERS_STARTING',
      detail: `${i.admission.starting} of ${i.admission.workers} admission workers still starting`,
    })
  }
  if (i.admission.running + i.admission.starting < i.admission.workers) {
    reasons.push({
      code: 'ADMISSION_WORKER_DOWN',
      detail:
        `${i.admission.workers - i.admission.running - i.admission.starting} of ${i.admission.workers} admission workers down, ${i.admission.running} running; ${i.admission.crashes} crash(es) so far, the last: ${i.admission.lastCrash ?? 'none'}`.slice(
          0,
          500,
        ),
    })
  }
  for (const problem of i.chain ?? []) reasons.push({ code: problem.code, detail: problem.message })
  return {
    ok: reasons.length === 0,
    reasons,
    inFlight: i.inFlight,
    mqtt: { connections: i.mqtt.connections, connected: i.mqtt.connected },
    kafka: { pending: i.kafka.pending, oldestPendingAgeMs: i.kafka.oldestPendingAgeMs, failingForMs },
    admission: i.admission,
  }
}
