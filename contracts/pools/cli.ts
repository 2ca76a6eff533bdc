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
import { emptyPoolWarnings } from './empty-pools.ts'
import { checkRegistryAgainstPools, loadPoolsFile } from './pools-config.ts'

const HELP = `Usage: npm run pools -- apply [--file config/pools.json] [options]

Creates or updates every pool of the pools file on-chain: the registry root of its devices (from
the device registry file), the pool in the oracle, its revenue-share token and distributor, its
terms, its investors verified and minted, and (local stack) its treasury funded and approved.
Every pool is checked against the chain (read-only) before anything is sent: a changed first
epoch or payment token, a fixed epoch clock, or a mint past the file's total supply (a replaced
investor address) is refused with nothing sent.
A second run changes nothing and says so; every step found done is printed as 'already done'.
A run that stopped (a revert, a kill) is resumed by running it again: each deployment is
recorded in the contracts file before it is sent, and every other step is read from the chain.
Deploy the shared contracts first (npm run deploy).

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
  const files = { pools: values.file, registry: registryFile }
  checkRegistryAgainstPools(poolsFile.pools, [...registry.devices()], files)
  for (const warning of emptyPoolWarnings(poolsFile.pools, [...registry.devices()], files))
    console.log(`[pools] WARNING: ${warning}`)
  const contracts = loadContractsFile(config.contractsFile)
  const started = Object.entries(contracts.poolsInProgress ?? {})
  for (const [poolId, progress] of started)
    console.log(
      `[pools] ${poolId}: resuming the run that stopped while creating it (${Object.entries(progress)
        .flatMap(([part, d]) => (d ? [[part, d] as const] : []))
        .map(
          ([part, d]) =>
            `${part} ${d.address} at nonce ${d.nonce}${d.deployedAtBlock ? ', mined' : ', not seen mined'}`,
        )
        .join('; ')}), recorded in ${config.contractsFile}`,
    )
  const { publicClient, chain, transport } = createChainClients(config.endpoints.chain, { timeoutMs: 60_000 })
  const walletClient = createWalletClient({ chain, transport, account: deployerAccount(config) })
  const made: string[] = []
  try {
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
        onChange: (poolId, change) => {
          made.push(`${poolId}: ${change}`)
          console.log(`[pools] ${poolId}: ${change}`)
        },
        onSkip: (poolId, step) => console.log(`[pools] ${poolId}: already done: ${step}`),
        record: (file) => writeContractsFile(config.contractsFile, file),
      },
    )
    writeContractsFile(config.contractsFile, result.contracts)
    if (result.changes.length === 0)
      console.log(`[pools] nothing to change: ${poolsFile.pools.length} pools already match ${values.file}`)
    else console.log(`[pools] ${result.changes.length} changes; wrote ${config.contractsFile}`)
    for (const line of result.todo) console.log(`[pools] to do: ${line}`)
  } catch (error) {
    // A refusal found before the first transaction says so itself; one found mid-way (a revert,
    // the chain changed meanwhile) leaves the changes made so far, listed here, on-chain.
    console.error(
      `[pools] ${values.file}: stopped after ${made.length} changes; what was deployed is recorded in ${config.contractsFile}: fix the cause below and run the same command again, it resumes`,
    )
    if (made.length > 0)
      console.error(
        `[pools] already done by this run, and kept on-chain (a re-run finds them done):\n${made.map((m) => `  ${m}`).join('\n')}`,
      )
    throw error
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
