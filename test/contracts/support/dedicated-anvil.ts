/**
 * An anvil of a test's (or benchmark's) own on a free port, started by the stack's own code:
 * for tests that move chain time (challenge windows) or load a lot of state, which must never
 * happen on the shared node.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import { REPO_ROOT } from '../../../stack/paths.ts'
import { ephemeralPort } from '../../../stack/ports.ts'
import { stopProcess } from '../../../stack/process.ts'
import { reporter } from '../../../stack/progress.ts'
import { anvilEndpoint, startAnvil } from '../../../stack/servers/anvil.ts'

export interface DedicatedAnvil {
  readonly endpoint: Endpoints['chain']
  /** The anvil process, for tests that SIGSTOP it (a node that stops answering). */
  readonly pid: number
  stop(): Promise<void>
}

export async function startDedicatedAnvil(name: string): Promise<DedicatedAnvil> {
  const runDir = join(REPO_ROOT, '.run', `anvil-${name}-${process.pid}-${Date.now().toString(36)}`)
  mkdirSync(runDir, { recursive: true })
  const port = await ephemeralPort()
  const server = await startAnvil({
    runDir,
    report: reporter('anvil', undefined),
    port,
    extraPorts: {},
    startTimeoutMs: 60_000,
  })
  return {
    endpoint: anvilEndpoint(port),
    pid: server.pid,
    async stop() {
      await stopProcess(server.pid, server.marker, 5_000)
      rmSync(runDir, { recursive: true, force: true })
    },
  }
}

/**
 * The environment a chain command (`npm run pools`, `deploy`, `verify`) runs with in a test: the
 * dedicated anvil, and the contracts and registry files in `dir` (contracts.json, registry.json).
 */
export function chainCliEnv(
  anvil: DedicatedAnvil,
  dir: string,
  extra: Readonly<Record<string, string>> = {},
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GRIDROOT_RPC_URL: anvil.endpoint.rpcUrl,
    GRIDROOT_CHAIN_ID: String(anvil.endpoint.chainId),
    GRIDROOT_CONTRACTS_FILE: join(dir, 'contracts.json'),
    GRIDROOT_REGISTRY_FILE: join(dir, 'registry.json'),
    ...extra,
  }
}
