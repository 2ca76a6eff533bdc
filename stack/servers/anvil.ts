import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ANVIL_CHAIN_ID, createChainClients } from '../../runtime/clients/chain.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { REPO_ROOT, runPaths } from '../paths.ts'
import { LOOPBACK } from '../ports.ts'
import { spawnServer, waitForPort } from '../process.ts'
import { resolveAnvil } from '../provision/anvil.ts'
import { withTimeout } from '../retry.ts'
import type { ServerStartContext, StartedServer } from './types.ts'

export function anvilArgs(port: number, configOutFile: string): string[] {
  // `--config-out` writes the dev accounts for people and puts the run folder into anvil's
  // command line, which is how `stack down` recognises the pid as its own.
  return [
    '--host',
    LOOPBACK,
    '--port',
    String(port),
    '--chain-id',
    String(ANVIL_CHAIN_ID),
    '--color',
    'never',
    '--config-out',
    configOutFile,
  ]
}

export function anvilEndpoint(port: number): Endpoints['chain'] {
  return { rpcUrl: `http://${LOOPBACK}:${port}`, chainId: ANVIL_CHAIN_ID }
}

export async function startAnvil(ctx: ServerStartContext): Promise<StartedServer> {
  const install = await resolveAnvil()
  const paths = runPaths(ctx.runDir)
  const dir = paths.serverDir('anvil')
  mkdirSync(dir, { recursive: true })
  const configOutFile = join(dir, 'accounts.json')
  ctx.report(
    'start',
    `starting anvil ${install.version} on ${LOOPBACK}:${ctx.port} (chain id ${ANVIL_CHAIN_ID})`,
  )
  const logFile = paths.logFile('anvil')
  const spawned = spawnServer({
    name: 'anvil',
    command: install.command,
    args: [...install.argsPrefix, ...anvilArgs(ctx.port, configOutFile)],
    logFile,
    pidFile: paths.pidFile('anvil'),
    cwd: install.argsPrefix.length > 0 ? REPO_ROOT : dir,
  })
  await waitForPort({ name: 'anvil', port: ctx.port, timeoutMs: ctx.startTimeoutMs, spawned, logFile })
  return {
    name: 'anvil',
    pid: spawned.pid,
    port: ctx.port,
    extraPorts: {},
    version: install.version,
    logFile,
    startedAtIso: spawned.startedAtIso,
    marker: configOutFile,
    spawned,
  }
}

/** eth_chainId and eth_blockNumber through viem: the node answers JSON-RPC on the expected chain. */
export async function probeAnvil(endpoints: Endpoints): Promise<void> {
  const { publicClient } = createChainClients(endpoints.chain, { timeoutMs: 3_000 })
  const [chainId] = await withTimeout(
    Promise.all([publicClient.getChainId(), publicClient.getBlockNumber({ cacheTime: 0 })]),
    5_000,
    'anvil JSON-RPC',
  )
  if (chainId !== endpoints.chain.chainId) {
    throw new Error(`anvil answers with chain id ${chainId}, expected ${endpoints.chain.chainId}`)
  }
}
