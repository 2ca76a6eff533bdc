/**
 * `npm run verify -- --pool P --device D --epoch E`: checks one device's leaf of a finalized
 * epoch against the chain, and its readings digest against the published readings archive and
 * the registry. Prints every check; exits 0 when all pass, 1 otherwise.
 */

import { parseArgs } from 'node:util'
import type { Address } from 'viem'
import { GridrootError } from '../../core/errors/base.ts'
import { stringifyWithBigints } from '../../core/json.ts'
import { artifactStoreConfig, createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { endpointsFromEnv } from '../../runtime/config.ts'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { createOracleChain } from './adapters/chain.ts'
import { verifyDevice } from './verify.ts'

const HELP = `Usage: npm run verify -- --pool POOL --device DEVICE --epoch EPOCH

Checks a device's revenue for a finalized epoch: the published tree against the root on-chain
(MerkleProof), the readings archive against its committed hash, every archived record's
signature against the registry, and the leaf's readings digest recomputed from the archive.
Settings from the environment: GRIDROOT_CONTRACTS_FILE, GRIDROOT_REGISTRY_FILE,
GRIDROOT_ARTIFACT_DIR, GRIDROOT_RPC_URL, GRIDROOT_CHAIN_ID.`

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      pool: { type: 'string' },
      device: { type: 'string' },
      epoch: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help || !values.pool || !values.device || values.epoch === undefined) {
    console.log(HELP)
    return values.help ? 0 : 2
  }
  const contractsFile = process.env.GRIDROOT_CONTRACTS_FILE ?? '.run/default/contracts.json'
  const registryFile = process.env.GRIDROOT_REGISTRY_FILE ?? '.run/default/system/registry.json'
  const contracts = loadContractsFile(contractsFile)
  const chain = createOracleChain({
    endpoint: endpointsFromEnv(process.env).chain,
    oracle: contracts.contracts.revenueOracle as Address,
    fromBlock: BigInt(contracts.deployedAtBlock),
  })
  const outcome = await verifyDevice(
    {
      chain,
      store: createFileArtifactStore(artifactStoreConfig(process.env)),
      registry: await loadRegistryFile(registryFile),
    },
    { poolId: values.pool, deviceId: values.device, epoch: Number(values.epoch) },
  )
  if (values.json) {
    console.log(stringifyWithBigints(outcome, 2))
  } else if (outcome.status !== 'checked') {
    console.log(`${values.pool}/${values.device}/${values.epoch}: ${outcome.status}`)
  } else {
    for (const c of outcome.checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.check.padEnd(16)} ${c.detail}`)
    if (outcome.leaf)
      console.log(
        `leaf: energyWh=${outcome.leaf.energyWh} revenueUnits=${outcome.leaf.revenueUnits} readings=${outcome.leaf.readings}`,
      )
  }
  return outcome.ok ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof GridrootError) console.error(error.message)
    else console.error(error)
    process.exit(1)
  },
)
