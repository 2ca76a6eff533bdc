/**
 * What `npm start` runs once the stack is up and before the services start: `npm run deploy`
 * (keeps live contracts) and `npm run pools -- apply --file config/pools.json` against the
 * environment the services get, printing their output. Throws when either fails.
 */
import { spawn } from 'node:child_process'
import { createWalletClient } from 'viem'
import { epochClockFromChain, epochClockToChain } from '../../core/entitlement/index.ts'
import { createChainClients } from '../../runtime/clients/chain.ts'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import { nodeTsArgs } from '../../runtime/node-ts.ts'
import { DEFAULT_RUN_DIR, REPO_ROOT } from '../../stack/paths.ts'
import { revenueDistributorAbi } from '../abi/index.ts'
import { chainToolsConfig, deployerAccount } from './config.ts'
import { send } from './deploy-contract.ts'

function runEntry(entry: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { command, args: nodeArgs } = nodeTsArgs(entry)
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...nodeArgs, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${entry} exited with ${code}`))))
  })
}

export async function deployAndApplyPools(
  env: NodeJS.ProcessEnv,
  poolsFile = 'config/pools.json',
  options: { readonly fresh?: boolean } = {},
): Promise<void> {
  await runEntry('contracts/deploy/cli.ts', options.fresh ? ['--fresh'] : [], env)
  await runEntry('contracts/pools/cli.ts', ['apply', '--file', poolsFile], env)
}

/**
 * `npm start`: the pools were created with a chain genesis in the future (adjustable); this sets
 * each pool's chain genesis to `chainGenesisS`, the wall-clock second at which the simulation's
 * device genesis begins (anvil stamps blocks with the wall clock), keeping the rest of each clock.
 * Once that second has passed on-chain the clocks are fixed (RevenueDistributor.setEpochClock).
 */
export async function startEpochClocks(env: NodeJS.ProcessEnv, chainGenesisS: number): Promise<void> {
  const config = chainToolsConfig(env, DEFAULT_RUN_DIR)
  const file = loadContractsFile(config.contractsFile)
  const { publicClient, chain, transport } = createChainClients(config.endpoints.chain, { timeoutMs: 30_000 })
  const clients = {
    publicClient,
    walletClient: createWalletClient({ chain, transport, account: deployerAccount(config) }),
  }
  for (const pool of Object.values(file.pools)) {
    const live = await publicClient.readContract({
      address: pool.distributor,
      abi: revenueDistributorAbi,
      functionName: 'epochClock',
    })
    await send(clients, {
      address: pool.distributor,
      abi: revenueDistributorAbi,
      functionName: 'setEpochClock',
      args: [epochClockToChain({ ...epochClockFromChain(live), chainGenesisS })],
    })
  }
}
