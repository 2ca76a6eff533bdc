/**
 * `npm run verify -- --pool P --device D --epoch E`: checks one device's leaf of a finalized
 * epoch against the chain, and recomputes it (energy, revenue, readings, digest) from the
 * published readings archive, the registry and the aggregator's rules. Prints every check;
 * exits 0 when all pass, 1 when the device does not verify (or cannot: not final, unknown device,
 * an artifact missing or corrupt), 3 when it could not be checked (the chain node did not answer).
 */

import type { Address } from 'viem'
import { GridrootError } from '../../core/errors/base.ts'
import { stringifyWithBigints } from '../../core/json.ts'
import {
  ArtifactIoError,
  artifactStoreConfig,
  createFileArtifactStore,
} from '../../runtime/artifact-store.ts'
import { missingContracts } from '../../runtime/chain/deployment-watch.ts'
import { errorSummary } from '../../runtime/chain/log-error.ts'
import { chainFailure } from '../../runtime/chain/node-answer.ts'
import { createChainClients } from '../../runtime/clients/chain.ts'
import { endpointsFromEnv } from '../../runtime/config.ts'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { createOracleChain } from './adapters/chain.ts'
import { readEpochGrid } from './adapters/epoch-grid.ts'
import { verifyRulesFromEnv } from './config.ts'
import { explainNotFinal } from './domain/not-final.ts'
import { VERIFY_CHECKS } from './domain/verify.ts'
import { ChainProofUncheckedError, verifyDevice } from './verify.ts'
import { parseVerifyArgs } from './verify-args.ts'

const HELP = `Usage: npm run verify -- --pool POOL --device DEVICE --epoch EPOCH [--json]

Checks a device's revenue for a finalized epoch of RevenueOracle, from the published artifacts
(fetched by the hashes the chain holds), the registry and the chain alone. One line per check,
ok or FAIL, with its detail; a failed check stops the ones that depend on it:
  TREE_HASH        the tree file hashes to the treeHash committed on-chain
  TREE_ROOT        the tree's root is the finalized root
  COMMITMENT       the tree backs the epoch's committed leafCount, revenueUnits and energyWh, and
                   pays only devices the registry puts in the pool (fails every device alike)
  LEAF_FOUND       the device has a leaf for this pool and epoch
  LEAF_MISSING     (only without a leaf) ok when the archive pays the device nothing: idle;
                   FAIL when it pays readings the tree left out, naming what they earn
  PROOF            the leaf's proof folds to the finalized root (computed here)
  CHAIN_PROOF      RevenueOracle.verifyDeviceLeaf(leaf, proof) is true on-chain
  ARCHIVE_HASH     the readings archive hashes to the archiveHash committed on-chain
  ARCHIVE_SCOPE    the archive decodes in its canonical form and is this pool and epoch's
  SIGNATURES       every archived record of the device verifies under its registered key
  READINGS_DIGEST  the readings the archive flags as paid give the leaf's digest and count
  LEAF_RECOMPUTED  the device's archived records, run through the aggregator's rules with the
                   registry's tariff, give the leaf's energyWh, revenueUnits, readings, digest
An epoch that is not final yet is not checked: verify says its on-chain state (not proposed,
pending until its challenge window ends, rejected) and what to do (wait until when, or which
epoch of the pool is the latest final one).
Exit status 0 when every check passes, 1 when one fails or the epoch cannot be checked (not
final, unknown device, artifact missing or corrupt), 2: usage, 3: not checked at all (the chain
node did not answer, or another error: the message says which) — never a verdict.
Settings from the environment: GRIDROOT_CONTRACTS_FILE, GRIDROOT_REGISTRY_FILE,
GRIDROOT_ARTIFACT_DIR, GRIDROOT_RPC_URL, GRIDROOT_CHAIN_ID, and the rules the leaves were
computed under: GRIDROOT_TARIFFS_FILE, GRIDROOT_EPOCH_*, GRIDROOT_INTERVAL, GRIDROOT_AGG_*
(as for the aggregator and the signers).`

/** What the error path needs to name a lost deployment (set once the contracts file is read). */
let deployment: { readonly oracle: Address; readonly contractsFile: string } | undefined

async function main(): Promise<number> {
  const parsed = parseVerifyArgs(process.argv.slice(2))
  if (parsed.status === 'help') {
    console.log(HELP)
    return 0
  }
  if (parsed.status === 'usage') {
    if (parsed.problem !== undefined) console.error(`verify: ${parsed.problem}`)
    console.log(HELP)
    return 2
  }
  const { poolId, deviceId, epoch } = parsed.args
  const where = `${poolId}/${deviceId}/${epoch}`
  const contractsFile = process.env.GRIDROOT_CONTRACTS_FILE ?? '.run/default/contracts.json'
  const registryFile = process.env.GRIDROOT_REGISTRY_FILE ?? '.run/default/system/registry.json'
  const contracts = loadContractsFile(contractsFile)
  deployment = { oracle: contracts.contracts.revenueOracle as Address, contractsFile }
  const chain = createOracleChain({
    endpoint: endpointsFromEnv(process.env).chain,
    oracle: contracts.contracts.revenueOracle as Address,
    fromBlock: BigInt(contracts.deployedAtBlock),
  })
  const distributor = contracts.pools[poolId]?.distributor as Address | undefined
  const chainGrid =
    distributor === undefined ? undefined : await readEpochGrid(chain.publicClient, distributor)
  // The grid is the chain's unless the environment names one (then it must be the chain's).
  const gridSet = ['GRIDROOT_EPOCH_GENESIS', 'GRIDROOT_EPOCH_LENGTH'].some(
    (k) => process.env[k] !== undefined,
  )
  const rulesEnv = {
    ...process.env,
    GRIDROOT_REGISTRY_FILE: registryFile,
    ...(chainGrid === undefined || gridSet
      ? {}
      : {
          GRIDROOT_EPOCH_GENESIS: new Date(chainGrid.genesisMs).toISOString(),
          GRIDROOT_EPOCH_LENGTH: String(chainGrid.epochLengthMs),
        }),
  }
  const outcome = await verifyDevice(
    {
      chain,
      store: createFileArtifactStore(artifactStoreConfig(process.env)),
      registry: await loadRegistryFile(registryFile),
      rules: await verifyRulesFromEnv(rulesEnv),
      epochGrid: async () => chainGrid,
    },
    { poolId, deviceId, epoch },
  )
  if (outcome.status === 'grid-mismatch') {
    // No verdict: the leaves would be recomputed on another grid than they were built on.
    console.log(`${where}: not checked: ${outcome.code}: ${outcome.detail}`)
    console.log(
      `Unset GRIDROOT_EPOCH_GENESIS and GRIDROOT_EPOCH_LENGTH (verify then takes the chain's grid), or set them to the chain's: GRIDROOT_EPOCH_GENESIS=${new Date(outcome.chainGrid.genesisMs).toISOString()} GRIDROOT_EPOCH_LENGTH=${outcome.chainGrid.epochLengthMs}.`,
    )
    return 3
  }
  const notFinal =
    outcome.status === 'not-final'
      ? explainNotFinal({
          poolId,
          epoch,
          pool: outcome.pool,
          record: outcome.record,
          nowSec: await chain.nowSec(),
        })
      : undefined
  if (parsed.args.json) {
    console.log(stringifyWithBigints(notFinal ? { ...outcome, explanation: notFinal } : outcome, 2))
  } else if (notFinal) {
    console.log(`${where}: not final: ${notFinal.summary}`)
    console.log(notFinal.hint)
  } else if (outcome.status === 'artifact-corrupt') {
    // The detail names the artifact (tree or archive), its path and both hashes.
    console.log(`${where}: artifact-corrupt: ${outcome.detail}`)
    console.log(
      'A published artifact no longer hashes to what the chain committed: restore it from a copy (or fetch it again from the publisher); the chain, not the file, is the reference.',
    )
  } else if (outcome.status === 'artifact-missing') {
    console.log(
      `${where}: artifact-missing: no file for ${outcome.hash} in the artifact store (GRIDROOT_ARTIFACT_DIR); copy the published artifacts there, or point GRIDROOT_ARTIFACT_DIR at the store the oracle publishes to`,
    )
  } else if (outcome.status === 'unknown-device') {
    console.log(`${where}: ${outcome.code}: ${outcome.detail}`)
    console.log(
      outcome.devicePoolId === undefined
        ? 'Use a deviceId of the registry (GRIDROOT_REGISTRY_FILE) in this pool.'
        : `A device has leaves only in its own pool: verify it with --pool ${outcome.devicePoolId}.`,
    )
  } else if (outcome.status !== 'checked') {
    console.log(`${where}: ${outcome.status}`)
  } else {
    console.log(`${where}:`)
    for (const c of outcome.checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.check.padEnd(16)} ${c.detail}`)
    const ran = new Set(outcome.checks.map((c) => c.check))
    for (const check of VERIFY_CHECKS) if (!ran.has(check)) console.log(`-    ${check.padEnd(16)} not run`)
    if (outcome.leaf)
      console.log(
        `leaf: energyWh=${outcome.leaf.energyWh} revenueUnits=${outcome.leaf.revenueUnits} readings=${outcome.leaf.readings}`,
      )
  }
  return outcome.ok ? 0 : 1
}

/**
 * The one line (or two, with a GridrootError's hints) for a run that reached no verdict: never
 * a viem error's message, which carries the whole ABI (attack10b F3: about 300 lines).
 */
async function notCheckedMessage(error: unknown): Promise<string> {
  if (chainFailure(error) === 'unreachable' || error instanceof ChainProofUncheckedError)
    return `not checked: the chain node did not answer (${(error as { shortMessage?: string }).shortMessage ?? String(error)}); retry when it is up`
  // A store that could not be read (EISDIR, EACCES) says nothing of the artifact (attack10a F6).
  if (error instanceof ArtifactIoError) return `not checked: ${error.message}`
  if (error instanceof GridrootError) return error.message
  if (deployment !== undefined) {
    const { publicClient } = createChainClients(endpointsFromEnv(process.env).chain, {
      timeoutMs: 5_000,
      retryCount: 0,
    })
    const missing = await missingContracts(
      publicClient,
      { RevenueOracle: deployment.oracle },
      deployment.contractsFile,
    )
    if (missing) return `not checked: ${missing.code}: ${missing.message}. ${missing.hint}`
  }
  return `not checked: ${errorSummary(error)}`
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    // No verdict was reached: a distinct status, so a script never reads "does not verify".
    console.error(await notCheckedMessage(error))
    process.exit(3)
  },
)
