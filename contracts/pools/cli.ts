/**
 * `npm run pools -- apply --file config/pools.json`: the operator command that creates and
 * updates pools on-chain from the pools file and the device registry file. Idempotent; prints
 * every change, or that there was none.
 */
import { parseArgs } from 'node:util'
import { createWalletClient } from 'viem'
import { createChainClients } from '../../runtime/clients/chain.ts'
import { loadContractsFile, writeContractsFile } from '../../runtime/contracts-file.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { DEFAULT_RUN_DIR } from '../../stack/paths.ts'
import { compileContracts } from '../build/compile.ts'
import { chainToolsConfig, deployerAccount, treasuryAccount } from '../deploy/config.ts'
import { applyPools } from './apply-pools.ts'
import { loadPoolsFile } from './pools-config.ts'

const HELP = `Usage: npm run pools -- apply [--file config/pools.json] [options]

Creates or updates every pool of the pools file on-chain: the registry root of its devices (from
the device registry file), the pool in the oracle, its revenue-share token and distributor, its
terms, its investors verified and minted, and (local stack) its treasury funded and approved.
A second run changes nothing and says so. Deploy the shared contracts first (npm run deploy).

Options:
  --file FILE       pools file (default config/pools.json)
  --registry FILE   device registry (default GRIDROOT_REGISTRY_FILE)
  --run-dir DIR     run folder whose contracts.json is used (default .run/default;
                    GRIDROOT_CONTRACTS_FILE overrides)
  -h, --help        this text`

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      file: { type: 'string', default: 'config/pools.json' },
      registry: { type: 'string' },
      'run-dir': { type: 'string', default: DEFAULT_RUN_DIR },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help || positionals[0] !== 'apply') {
    console.log(HELP)
    if (!values.help) process.exitCode = 2
    return
  }
  const config = chainToolsConfig(process.env, values['run-dir'])
  const registryFile = values.registry ?? config.registryFile
  if (!registryFile) throw new Error('no device registry: pass --registry FILE or set GRIDROOT_REGISTRY_FILE')
  const registry = await loadRegistryFile(registryFile)
  const poolsFile = loadPoolsFile(values.file)
  const contracts = loadContractsFile(config.contractsFile)
  const { publicClient, chain, transport } = createChainClients(config.endpoints.chain, { timeoutMs: 60_000 })
  const walletClient = createWalletClient({ chain, transport, account: deployerAccount(config) })
  const result = await applyPools(
    { walletClient, publicClient },
    {
      compiled: compileContracts(),
      contracts,
      pools: poolsFile.pools,
      devices: [...registry.devices()],
      publisher: config.publisher,
      treasury: treasuryAccount(config),
      local: config.local,
      epochClock: config.epochClock,
      onChange: (poolId, change) => console.log(`[pools] ${poolId}: ${change}`),
    },
  )
  writeContractsFile(config.contractsFile, result.contracts)
  if (result.changes.length === 0)
    console.log(`[pools] nothing to change: ${poolsFile.pools.length} pools already match ${values.file}`)
  else console.log(`[pools] ${result.changes.length} changes; wrote ${config.contractsFile}`)
  for (const line of result.todo) console.log(`[pools] to do: ${line}`)
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
