/**
 * The ports of the services `npm start` runs (ingest 9464, aggregator 9465, oracle 9466-9469 and
 * 9471, distributor 9470, API 8080), allocated up front, each reserved for the whole run
 * (stack/port-reservations.ts): a port is handed to a service only once no other run holds it
 * and nothing listens on it. A service that still loses its port (a foreign process bound it
 * first) exits with EADDRINUSE; `exitDecision` then moves it to another port, three times at
 * most, and after that `npm start` stops naming the port and its holder.
 */

import type { PortReservations } from './port-reservations.ts'
import { ephemeralPort, isPortFree, type PortProbe } from './ports.ts'

/** Each service's port variable and well-known port. */
export const SERVICE_PORTS = {
  ingest: { env: 'GRIDROOT_INGEST_METRICS_PORT', preferred: 9464 },
  aggregator: { env: 'GRIDROOT_AGG_METRICS_PORT', preferred: 9465 },
  'oracle-signer-1': { env: 'GRIDROOT_ORACLE_METRICS_PORT', preferred: 9466 },
  'oracle-signer-2': { env: 'GRIDROOT_ORACLE_METRICS_PORT', preferred: 9467 },
  'oracle-signer-3': { env: 'GRIDROOT_ORACLE_METRICS_PORT', preferred: 9468 },
  'oracle-submitter': { env: 'GRIDROOT_ORACLE_METRICS_PORT', preferred: 9469 },
  distributor: { env: 'GRIDROOT_DISTRIBUTOR_METRICS_PORT', preferred: 9470 },
  'oracle-guardian': { env: 'GRIDROOT_ORACLE_METRICS_PORT', preferred: 9471 },
  api: { env: 'GRIDROOT_API_PORT', preferred: 8080 },
} as const

export type ServiceName = keyof typeof SERVICE_PORTS

/** Port moves after EADDRINUSE before giving up: each one already had a reserved, free port. */
export const MAX_PORT_MOVES = 3

export interface ServicePorts {
  /** The service's port now (it changes when the service is moved). */
  port(service: string): number
  /** Reserves a port for the service: the preferred one when free and unreserved, else any. */
  take(service: string, preferred?: number): Promise<number>
  /** Another reserved free port for a service that lost its own; the old one is released. */
  move(service: string): Promise<number>
  releaseAll(): void
}

const EPHEMERAL_ATTEMPTS = 20

export function createServicePorts(options: {
  readonly reservations: PortReservations
  /** Written into each reservation: which run holds it (its run folder). */
  readonly owner: string
  readonly probe?: PortProbe
}): ServicePorts {
  const probe = options.probe ?? { isFree: (port) => isPortFree(port), ephemeral: () => ephemeralPort() }
  const byService = new Map<string, number>()
  const assigned = new Set<number>()

  const claim = async (port: number, service: string): Promise<boolean> => {
    if (assigned.has(port)) return false
    // Reserved first, probed second: once the file is ours no other run can take the port, so
    // a free port seen now stays ours (only a foreign process can still bind it).
    if (!options.reservations.reserve(port, `${options.owner} ${service}`)) return false
    if (await probe.isFree(port)) {
      assigned.add(port)
      return true
    }
    options.reservations.release(port)
    return false
  }

  const reserveFree = async (service: string, preferred: number | undefined): Promise<number> => {
    if (preferred !== undefined && (await claim(preferred, service))) return preferred
    for (let attempt = 0; attempt < EPHEMERAL_ATTEMPTS; attempt++) {
      const port = await probe.ephemeral()
      if (await claim(port, service)) return port
    }
    throw new Error(
      `no free port for ${service} after ${EPHEMERAL_ATTEMPTS} tries (reservations in ${options.reservations.dir})`,
    )
  }

  return {
    port(service) {
      const port = byService.get(service)
      if (port === undefined) throw new Error(`no port taken for ${service}`)
      return port
    },
    async take(service, preferred) {
      const port = await reserveFree(service, preferred)
      byService.set(service, port)
      return port
    },
    async move(service) {
      const old = byService.get(service)
      const port = await reserveFree(service, undefined)
      byService.set(service, port)
      if (old !== undefined) {
        assigned.delete(old)
        options.reservations.release(old)
      }
      return port
    },
    releaseAll() {
      options.reservations.releaseAll()
    },
  }
}

/**
 * The port a process's output says it could not bind: Node's `listen EADDRINUSE: address already
 * in use 127.0.0.1:9465`, also inside a JSON log line. Undefined when it says nothing of the kind.
 */
export function portInUseFromOutput(output: string): number | undefined {
  const match = /EADDRINUSE[^\n]{0,80}?:(\d{1,5})\b/.exec(output)
  return match?.[1] === undefined ? undefined : Number(match[1])
}

export type ExitDecision =
  | { readonly kind: 'restart' }
  | { readonly kind: 'move'; readonly port: number }
  | { readonly kind: 'give-up'; readonly port: number }

/**
 * What to do after a service exited, given what it printed since it started: restart as usual,
 * move it to another port (it lost its own: `port` is the lost one), or give up (lost its port
 * `MAX_PORT_MOVES` times already). Pure.
 */
export function exitDecision(output: string, port: number, movesSoFar: number): ExitDecision {
  const lost = portInUseFromOutput(output)
  if (lost !== port) return { kind: 'restart' }
  return movesSoFar >= MAX_PORT_MOVES ? { kind: 'give-up', port } : { kind: 'move', port }
}
