/**
 * `npm run deploy`: deploys the shared contracts (DeviceRegistry, RevenueOracle,
 * IdentityRegistry, and the HKD stablecoin stand-in on the local anvil) and writes their
 * addresses to the contracts file. Does nothing when the file already points at live contracts
 * compiled from the same sources.
 */
import { parseArgs } from 'node:util'
import { createWalletClient } from 'viem'
import { createChainClients } from '../../runtime/clients/chain.ts'
import { DEFAULT_RUN_DIR } from '../../stack/paths.ts'
import { compileContracts } from '../build/compile.ts'
import { chainToolsConfig, deployerAccount } from './config.ts'
import { ensureDeployed } from './ensure-deployed.ts'

const HELP = `Usage: npm run deploy [-- options]

Deploys gridroot's shared contracts and writes their addresses to the contracts file
(GRIDROOT_CONTRACTS_FILE, default <run-dir>/contracts.json). Idempotent: live contracts from the
same sources are kept. Chain from GRIDROOT_RPC_URL / GRIDROOT_CHAIN_ID; on anvil (31337) the
dev accounts play every role, elsewhere set GRIDROOT_DEPLOYER_KEY, GRIDROOT_ORACLE_SIGNERS,
GRIDROOT_ORACLE_GUARDIAN, GRIDROOT_DISTRIBUTOR_PUBLISHER.

Options:
  --run-dir DIR   run folder whose contracts.json is written (default .run/default)
  --fresh         deploy new contracts even if the file points at live ones
  -h, --help      this text`

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'run-dir': { type: 'string', default: DEFAULT_RUN_DIR },
      fresh: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(HELP)
    return
  }
  const config = chainToolsConfig(process.env, values['run-dir'])
  const { publicClient, chain, transport } = createChainClients(config.endpoints.chain, { timeoutMs: 60_000 })
  const walletClient = createWalletClient({ chain, transport, account: deployerAccount(config) })
  const compiled = compileContracts()
  const result = await ensureDeployed(
    { walletClient, publicClient },
    {
      compiled,
      contractsFile: config.contractsFile,
      chainId: config.endpoints.chain.chainId,
      oracleSigners: config.oracleSigners,
      threshold: config.threshold,
      challengeWindowSec: config.challengeWindowSec,
      guardian: config.guardian,
      deployStablecoin: config.local,
      fresh: values.fresh,
    },
  )
  const c = result.file.contracts
  console.log(
    result.action === 'unchanged'
      ? `[deploy] nothing to do: ${config.contractsFile} points at live contracts from these sources`
      : `[deploy] deployed (${result.reason}); wrote ${config.contractsFile}`,
  )
  console.log(
    `  deviceRegistry ${c.deviceRegistry}\n  revenueOracle ${c.revenueOracle} (${result.file.oracle.threshold}-of-${result.file.oracle.signers.length}, window ${result.file.oracle.challengeWindowSec} s)\n  identityRegistry ${c.identityRegistry}${c.hkdStablecoin ? `\n  hkdStablecoin ${c.hkdStablecoin}` : ''}`,
  )
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
