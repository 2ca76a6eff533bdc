import type { Endpoints } from '../../runtime/endpoints.ts'
import type { SpawnedServer } from '../process.ts'
import type { Report, ServerName } from '../progress.ts'

export interface ServerStartContext {
  readonly runDir: string
  readonly report: Report
  /** The port clients use. */
  readonly port: number
  /** Ports the server needs besides its client port (Kafka's controller, InfluxDB's RPC). */
  readonly extraPorts: Readonly<Record<string, number>>
  readonly startTimeoutMs: number
}

/** A server this process started; what `state.json` records about it. */
export interface StartedServer {
  readonly name: ServerName
  readonly pid: number
  readonly port: number
  readonly extraPorts: Readonly<Record<string, number>>
  readonly version: string
  readonly logFile: string
  readonly startedAtIso: string
  /** A path in the process's command line that proves a pid is still this server. */
  readonly marker: string
  /** Only present in the process that spawned it (lets it notice an early exit). */
  readonly spawned?: SpawnedServer
}

/** One round trip through a server that proves it is usable, not merely listening. */
export type Probe = (endpoints: Endpoints) => Promise<void>

/** How long to wait for SIGTERM before SIGKILL; Kafka's controlled shutdown takes longest. */
export const STOP_GRACE_MS: Readonly<Record<ServerName, number>> = {
  mosquitto: 5_000,
  kafka: 30_000,
  influxdb: 10_000,
  anvil: 5_000,
}
