/**
 * `npm run claim -- --pool <id> --account <address|dev:N> [--quote]`: shows what the account can
 * claim from the pool's current cumulative root and, unless --quote, claims it. The transaction
 * can be sent by the account itself (dev:N on the local anvil, or GRIDROOT_CLAIM_KEY) or by any
 * relayer (GRIDROOT_CLAIM_KEY of another account): the payout always goes to the account.
 */
import { parseArgs } from 'node:util'
import { type Account, type Address, createWalletClient, formatUnits, isAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { hkdStablecoinAbi } from '../../contracts/abi/index.ts'
import { devAccount } from '../../contracts/deploy/dev-accounts.ts'
import type { ClaimBlock } from '../../core/entitlement/claim-quote.ts'
import { GridrootError } from '../../core/errors/base.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { missingContracts, type WatchedContracts } from '../../runtime/chain/deployment-watch.ts'
import { createHolderClaimsReader } from '../../runtime/chain/holder-claims.ts'
import { errorSummary } from '../../runtime/chain/log-error.ts'
import { chainFailure } from '../../runtime/chain/node-answer.ts'
import { ChainTransactionError, createPoolChain } from '../../runtime/chain/pool-chain.ts'
import { decodeRevert } from '../../runtime/chain/revert.ts'
import { ANVIL_CHAIN_ID, createChainClients } from '../../runtime/clients/chain.ts'
import { loadContractsFile, poolContracts } from '../../runtime/contracts-file.ts'
import { claimConfigFromEnv } from './config.ts'

const HELP = `usage: npm run claim -- --pool <pool id> --account <address | dev:N> [--quote]

  --pool     the pool (as in config/pools.json and the contracts file)
  --account  the holder; dev:N is anvil dev account N (local stack only), whose key then signs
  --quote    only show the claimable amount, the proof and the payout history

Environment: GRIDROOT_CONTRACTS_FILE (required), GRIDROOT_RPC_URL, GRIDROOT_CHAIN_ID,
GRIDROOT_ARTIFACT_DIR (where the distributor stores the trees), GRIDROOT_CLAIM_KEY (the key that
sends the transaction when --account is an address: the holder's own, or a relayer's).`

/** What a holder does about a refusal, by the quote's blockedBy code. */
const BLOCKED: Record<ClaimBlock, string> = {
  NOT_VERIFIED:
    'the account is not verified in the identity registry; the pool operator must verify it before it can claim (what it is owed is kept)',
  PAUSED: 'the distributor is paused; claim again when the operator unpauses it (nothing owed is lost)',
}

/** RevenueDistributor errors a claim can meet, and what to do. */
const REVERT_HINTS: Record<string, string> = {
  NotVerified: BLOCKED.NOT_VERIFIED,
  EnforcedPause: BLOCKED.PAUSED,
  InvalidProof: 'A newer root was published since the quote; run the claim again.',
  NoRoot: 'The pool has no root yet; wait for the first distribution.',
}

/** The contracts this run reads, once known: a failed chain read is then explained by them. */
let deployment:
  | {
      contracts: WatchedContracts
      contractsFile: string
      chain: ReturnType<typeof claimConfigFromEnv>['endpoints']['chain']
    }
  | undefined

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      pool: { type: 'string' },
      account: { type: 'string' },
      quote: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help || !values.pool || !values.account) {
    console.log(HELP)
    return values.help ? 0 : 2
  }
  const env: Record<string, string | undefined> = {
    GRIDROOT_CONTRACTS_FILE: '.run/default/contracts.json',
    ...process.env,
  }
  const config = claimConfigFromEnv(env)
  let holder: Address
  let sender: Account | undefined
  const dev = /^dev:(\d+)$/.exec(values.account)
  if (dev) {
    if (config.endpoints.chain.chainId !== ANVIL_CHAIN_ID) {
      console.error('dev:N accounts exist only on the local anvil (chain id 31337); give an address')
      return 2
    }
    sender = devAccount(Number(dev[1]))
    holder = sender.address
  } else if (isAddress(values.account)) {
    holder = values.account
  } else {
    console.error(`--account ${values.account} is neither an address nor dev:N`)
    return 2
  }
  if (!sender && env.GRIDROOT_CLAIM_KEY) sender = privateKeyToAccount(env.GRIDROOT_CLAIM_KEY as `0x${string}`)

  const file = loadContractsFile(config.contractsFile)
  const pool = poolContracts(file, values.pool)
  deployment = {
    contracts: {
      RevenueOracle: file.contracts.revenueOracle,
      IdentityRegistry: file.contracts.identityRegistry,
      [`RevenueDistributor ${values.pool}`]: pool.distributor,
      [`RevenueShareToken ${values.pool}`]: pool.token,
    },
    contractsFile: config.contractsFile,
    chain: config.endpoints.chain,
  }
  const { chain, transport, publicClient } = createChainClients(config.endpoints.chain, { timeoutMs: 30_000 })
  const walletClient = sender ? createWalletClient({ chain, transport, account: sender }) : undefined
  const poolChain = createPoolChain({
    publicClient,
    walletClient,
    pool,
    oracle: file.contracts.revenueOracle,
    identityRegistry: file.contracts.identityRegistry,
    identityFromBlock: BigInt(file.deployedAtBlock),
  })
  const reader = createHolderClaimsReader(poolChain, createFileArtifactStore(config.artifacts))
  const claims = await reader.read(holder)
  const hkd = (units: bigint) => `${formatUnits(units, 6)} (${units} base units)`
  console.log(
    `pool       ${claims.poolId}, current root ${claims.root ?? 'none yet'} (epoch ${claims.epoch ?? '-'})`,
  )
  console.log(`account    ${holder}`)
  console.log(`cumulative ${hkd(claims.cumulativeAmount)}`)
  console.log(`claimed    ${hkd(claims.claimedUnits)}`)
  console.log(`claimable  ${hkd(claims.claimableUnits)}`)
  console.log(`verified   ${claims.verified ? 'yes' : 'no'}`)
  for (const p of claims.payouts)
    console.log(
      `  paid ${hkd(p.paidUnits)} at block ${p.blockNumber} (${new Date(p.timestampS * 1000).toISOString()}), tx ${p.transactionHash}`,
    )
  if (values.quote) {
    console.log(`proof      ${JSON.stringify(claims.proof)}`)
    return 0
  }
  if (claims.blockedBy !== undefined) {
    console.error(`${claims.blockedBy}: ${BLOCKED[claims.blockedBy]} (owed ${hkd(claims.owedUnits)})`)
    return 1
  }
  if (claims.claimableUnits === 0n) {
    console.log('nothing to claim')
    return 0
  }
  if (!sender) {
    console.error(
      'no key to send the claim: use --account dev:N on the local stack, or set GRIDROOT_CLAIM_KEY',
    )
    return 2
  }
  const balanceOf = () =>
    publicClient.readContract({
      address: pool.paymentToken,
      abi: hkdStablecoinAbi,
      functionName: 'balanceOf',
      args: [holder],
    })
  const before = await balanceOf()
  let sent: Awaited<ReturnType<typeof poolChain.claim>>
  try {
    sent = await poolChain.claim(holder, claims.cumulativeAmount, claims.proof)
  } catch (error) {
    // The state may have changed since the quote (unverified, paused, a newer root): say which
    // contract error refused it, with what to do, instead of viem's dump.
    // Mined and reverted (ChainTransactionError, replayed on its block) or refused at the simulation.
    const name = (error instanceof ChainTransactionError ? error.revert : decodeRevert(error))?.errorName
    if (name === undefined) throw error
    console.error(
      `CLAIM_REVERTED: the distributor refused the claim with ${name}. ${REVERT_HINTS[name] ?? 'Run with --quote to see the position as the chain has it now.'}`,
    )
    return 1
  }
  const { hash, paidUnits } = sent
  const after = await balanceOf()
  console.log(`claimed    ${hkd(paidUnits)} in tx ${hash}`)
  console.log(`balance    ${hkd(before)} -> ${hkd(after)}`)
  return 0
}

/**
 * What a failed run says instead of viem's dump (attack F3: a chain without the contracts printed
 * "returned no data"): CONTRACTS_MISSING when the contracts file's addresses have no code on the
 * chain, CHAIN_UNREACHABLE when the node does not answer.
 */
async function failureMessage(error: unknown): Promise<string> {
  if (error instanceof GridrootError) return error.message
  if (deployment === undefined) return errorSummary(error)
  if (chainFailure(error) === 'unreachable')
    return `CHAIN_UNREACHABLE: the chain node at ${deployment.chain.rpcUrl} did not answer (${errorSummary(error)}). Start it (npm run stack -- up) or point GRIDROOT_RPC_URL at a running node.`
  const { publicClient } = createChainClients(deployment.chain, { timeoutMs: 5_000, retryCount: 0 })
  const missing = await missingContracts(publicClient, deployment.contracts, deployment.contractsFile)
  if (missing) return `${missing.code}: ${missing.message}. ${missing.hint}`
  return errorSummary(error)
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    console.error(await failureMessage(error))
    process.exit(1)
  },
)
