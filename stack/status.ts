import type { Endpoints } from '../runtime/endpoints.ts'
import { isOwnedProcess } from './process.ts'
import { SERVER_NAMES, type ServerName } from './progress.ts'
import { errorMessage, withTimeout } from './retry.ts'
import { SERVERS } from './servers/registry.ts'
import type { StackState } from './state.ts'

export type ProbeResult =
  | { readonly ok: true; readonly latencyMs: number }
  | { readonly ok: false; readonly error: string }
  | { readonly ok: false; readonly skipped: 'not running' }

export interface ServerStatus {
  readonly name: ServerName
  readonly pid: number | undefined
  readonly port: number | undefined
  readonly running: boolean
  readonly probe: ProbeResult
}

/** Times one probe; never throws. */
export async function runProbe(
  name: ServerName,
  endpoints: Endpoints,
  timeoutMs = 30_000,
): Promise<ProbeResult> {
  const startedMs = performance.now()
  try {
    await withTimeout(SERVERS[name].probe(endpoints), timeoutMs, `${name} probe`)
    return { ok: true, latencyMs: Math.round(performance.now() - startedMs) }
  } catch (error) {
    return { ok: false, error: errorMessage(error) }
  }
}

/** Whether each server of a recorded stack runs (as the process it started) and answers its probe. */
export async function checkServers(state: StackState): Promise<ServerStatus[]> {
  return Promise.all(
    SERVER_NAMES.map(async (name): Promise<ServerStatus> => {
      const record = state.servers.find((server) => server.name === name)
      const running = record !== undefined && isOwnedProcess(record.pid, record.marker)
      return {
        name,
        pid: record?.pid,
        port: record?.port,
        running,
        probe: running ? await runProbe(name, state.endpoints) : { ok: false, skipped: 'not running' },
      }
    }),
  )
}

export function isHealthy(statuses: readonly ServerStatus[]): boolean {
  return statuses.every((status) => status.running && status.probe.ok)
}
