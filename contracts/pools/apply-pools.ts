/**
 * Brings the chain in line with config/pools.json and the device registry, pool by pool, and
 * reports every change it made and every step it found done. Nothing is sent before every pool
 * has been checked against the chain (pool-conflicts.ts, reads only). Each step first reads the
 * chain and acts only on a difference, so a second run changes nothing and says so:
 * registry root → oracle pool → token and its issuer role → distributor, its roles and terms →
 * distributor registered as an IdentityRegistry hook → investors verified (and flagged in the
 * distributor) → tokens minted (up to the configured amount; mints are read back from Transfer
 * events) → treasury funded and approved (local stack).
 *
 * Resumable: the two deployments are the only steps the chain cannot tell apart from a missing
 * one (a second deployment is a second token), so each is recorded in the contracts file
 * (`poolsInProgress`, through `record`) before it is sent and again once mined
 * (resumable-deploy.ts); a run killed at any point resumes from the chain and that record.
 */
import { type Address, formatUnits, type Hex, maxUint256 } from 'viem'
import type { LocalAccount } from 'viem/accounts'
import { poolIdBytes32, registryCommitment } from '../../core/chain/registry-root.ts'
import { type EpochClock, epochClockFromChain, epochClockToChain } from '../../core/entitlement/index.ts'
import type { DeviceRecord } from '../../core/identity/registry.ts'
import type {
  ContractsFile,
  Deployment,
  PoolContracts,
  PoolInProgress,
} from '../../runtime/contracts-file.ts'
import {
  deviceRegistryAbi,
  hkdStablecoinAbi,
  identityRegistryAbi,
  revenueDistributorAbi,
  revenueOracleAbi,
  revenueShareTokenAbi,
} from '../abi/index.ts'
import type { CompileOutput } from '../build/compile.ts'
import { type DeployClients, send } from '../deploy/deploy-contract.ts'
import { ROLE } from '../deploy/deploy-core.ts'
import {
  poolDistributorArgs,
  poolDistributorRoles,
  poolTokenArgs,
  SPLIT_MODES,
  termsToChain,
} from '../deploy/deploy-pool-contracts.ts'
import { planMints } from './mint-plan.ts'
import {
  clockCheck,
  clockText,
  findPoolConflicts,
  firstEpochConflict,
  mintedByAccount,
  missingPaymentToken,
  PoolConfigConflictError,
  paymentTokenConflict,
  plannedInvestors,
  supplyConflict,
} from './pool-conflicts.ts'
import { type PoolConfig, resolveAccount } from './pools-config.ts'
import { type ResumableDeployResult, resumableDeploy } from './resumable-deploy.ts'
import { settlePending } from './settle-pending.ts'

export interface ApplyPoolsParameters {
  readonly compiled: CompileOutput
  readonly contracts: ContractsFile
  readonly pools: readonly PoolConfig[]
  readonly devices: readonly DeviceRecord[]
  readonly publisher: Address
  /** Account that approves the distributors and receives local-hkd; undefined off the local stack. */
  readonly treasury: LocalAccount | undefined
  readonly local: boolean
  /** The epoch → chain-time map of new pools (adjusted on a pool only while it still may be). */
  readonly epochClock: EpochClock
  /** Called with each change as it is made. */
  readonly onChange?: (poolId: string, change: string) => void
  /** Called with each step found done on-chain (nothing sent). */
  readonly onSkip?: (poolId: string, step: string) => void
  /**
   * Persists the contracts file as it stands (atomically): called before and after each
   * deployment and when a pool is complete, so a killed run resumes instead of deploying again.
   */
  readonly record?: (file: ContractsFile) => void
}

export interface ApplyPoolsResult {
  readonly contracts: ContractsFile
  readonly changes: readonly { readonly poolId: string; readonly change: string }[]
  /** Things an operator must still do (e.g. approve from a treasury this command has no key for). */
  readonly todo: readonly string[]
}

const TOKEN_DECIMALS = 18

function deploymentNote(what: string, d: ResumableDeployResult, recorded: Deployment | undefined): string {
  if (d.how === 'resumed')
    return `resumed: ${what} at ${d.address}, deployed by an earlier run that stopped (nonce ${d.nonce}); not deployed again`
  if (d.how === 'redeployed')
    return `${what} deployed at ${d.address} (an earlier run's deployment, nonce ${recorded?.nonce}, never came to be)`
  return `${what} deployed at ${d.address}`
}

async function hasCode(clients: DeployClients, address: Address | undefined): Promise<boolean> {
  if (!address) return false
  const code = await clients.publicClient.getCode({ address })
  return code !== undefined && code !== '0x'
}

export async function applyPools(clients: DeployClients, p: ApplyPoolsParameters): Promise<ApplyPoolsResult> {
  const changes: { poolId: string; change: string }[] = []
  const todo: string[] = []
  const pools: Record<string, PoolContracts> = { ...p.contracts.pools }
  const inProgress: Record<string, PoolInProgress> = { ...p.contracts.poolsInProgress }
  const current = (): ContractsFile => {
    const { poolsInProgress: _, ...rest } = p.contracts
    return Object.keys(inProgress).length > 0
      ? { ...rest, pools: { ...pools }, poolsInProgress: { ...inProgress } }
      : { ...rest, pools: { ...pools } }
  }
  const save = () => p.record?.(current())
  const { publicClient } = clients
  const core = p.contracts.contracts
  const me = clients.walletClient.account.address
  const pending = await settlePending(clients, me)
  if (pending > 0)
    p.onSkip?.('*', `waited for ${pending} transactions of ${me} sent by an earlier run to be mined`)
  // Everything the chain can refuse is checked for every pool before the first transaction.
  const conflicts = await findPoolConflicts(clients, p)
  if (conflicts.length > 0) throw new PoolConfigConflictError(conflicts, true)

  for (const [index, pool] of p.pools.entries()) {
    const note = (change: string) => {
      changes.push({ poolId: pool.poolId, change })
      p.onChange?.(pool.poolId, change)
    }
    const skip = (step: string) => p.onSkip?.(pool.poolId, step)
    const recordDeployment = (part: 'token' | 'distributor', deployment: Deployment) => {
      inProgress[pool.poolId] = { ...inProgress[pool.poolId], [part]: deployment }
      save()
    }
    const poolId = poolIdBytes32(pool.poolId)
    const write = (
      address: Address,
      abi: readonly unknown[],
      functionName: string,
      args: readonly unknown[],
    ) => send(clients, { address, abi: abi as never, functionName, args })

    // 1. The registry root of the pool's devices.
    const commitment = registryCommitment(p.devices, pool.poolId)
    const onChain = await publicClient.readContract({
      address: core.deviceRegistry,
      abi: deviceRegistryAbi,
      functionName: 'registryOf',
      args: [poolId],
    })
    if (
      onChain.version === 0n ||
      onChain.root !== commitment.root ||
      onChain.deviceCount !== commitment.deviceCount
    ) {
      await write(core.deviceRegistry, deviceRegistryAbi, 'setRoot', [
        poolId,
        commitment.root,
        commitment.deviceCount,
      ])
      note(
        `registry root ${commitment.root} over ${commitment.deviceCount} devices (version ${onChain.version + 1n})`,
      )
    } else
      skip(
        `registry root ${commitment.root} over ${commitment.deviceCount} devices (version ${onChain.version})`,
      )

    // 2. The pool in the oracle.
    const oraclePool = await publicClient.readContract({
      address: core.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'poolOf',
      args: [poolId],
    })
    if (!oraclePool.registered) {
      await write(core.revenueOracle, revenueOracleAbi, 'addPool', [poolId, BigInt(pool.firstEpoch)])
      note(`added to the oracle, first epoch ${pool.firstEpoch}`)
    } else {
      const conflict = firstEpochConflict(pool, oraclePool.firstEpoch)
      if (conflict) throw new PoolConfigConflictError([conflict], false)
      skip(`in the oracle, first epoch ${pool.firstEpoch}`)
    }

    // 3. Token and distributor.
    const paymentToken =
      pool.terms.paymentToken === 'local-hkd' ? core.hkdStablecoin : (pool.terms.paymentToken as Address)
    if (!paymentToken) throw new PoolConfigConflictError([missingPaymentToken(pool)], false)
    const treasury = resolveAccount(pool.terms.treasury, p.local)
    const terms = { treasury, holdersBps: pool.terms.holdersBps, splitMode: pool.terms.splitMode }
    const recorded = pools[pool.poolId]
    const started = inProgress[pool.poolId]
    const ensureRole = async (
      what: string,
      address: Address,
      abi: readonly unknown[],
      role: { readonly role: Hex; readonly name: string; readonly account: Address },
    ) => {
      const has = await publicClient.readContract({
        address,
        abi: abi as typeof revenueShareTokenAbi,
        functionName: 'hasRole',
        args: [role.role, role.account],
      })
      if (has) return skip(`${what}: ${role.name} of ${role.account}`)
      await write(address, abi, 'grantRole', [role.role, role.account])
      note(`${what}: ${role.name} granted to ${role.account}`)
    }

    let token: Address
    let deployedAtBlock: string
    if (recorded && (await hasCode(clients, recorded.token))) {
      token = recorded.token
      deployedAtBlock = recorded.deployedAtBlock
      skip(`token ${pool.token.symbol} at ${token}`)
    } else {
      const deployed = await resumableDeploy(clients, {
        compiled: p.compiled,
        contract: 'RevenueShareToken',
        args: poolTokenArgs(
          {
            poolIdBytes32: poolId,
            name: pool.token.name,
            symbol: pool.token.symbol,
            identityRegistry: core.identityRegistry,
            issuer: me,
          },
          me,
        ),
        recorded: started?.token,
        record: (d) => recordDeployment('token', d),
      })
      token = deployed.address
      deployedAtBlock = deployed.fromBlock.toString()
      note(deploymentNote(`token ${pool.token.symbol}`, deployed, started?.token))
    }
    await ensureRole('token', token, revenueShareTokenAbi, {
      role: ROLE.issuer,
      name: 'ISSUER_ROLE',
      account: me,
    })

    const distributorParameters = {
      poolIdBytes32: poolId,
      oracle: core.revenueOracle,
      identityRegistry: core.identityRegistry,
      paymentToken,
      firstEpoch: BigInt(pool.firstEpoch),
      terms,
      clock: p.epochClock,
      publisher: p.publisher,
      pauser: me,
    }
    let distributor: Address
    let freshDistributor = false
    if (recorded && (await hasCode(clients, recorded.distributor))) {
      distributor = recorded.distributor
      skip(`distributor at ${distributor}`)
    } else {
      const deployed = await resumableDeploy(clients, {
        compiled: p.compiled,
        contract: 'RevenueDistributor',
        args: poolDistributorArgs(distributorParameters, me),
        recorded: started?.distributor,
        record: (d) => recordDeployment('distributor', d),
      })
      distributor = deployed.address
      freshDistributor = deployed.how !== 'resumed'
      note(
        deployed.how === 'resumed'
          ? deploymentNote('distributor', deployed, started?.distributor)
          : `${deploymentNote('distributor', deployed, started?.distributor)} (terms ${terms.holdersBps} bps, ${terms.splitMode}; ${clockText(p.epochClock)})`,
      )
    }
    for (const role of poolDistributorRoles(distributorParameters))
      await ensureRole('distributor', distributor, revenueDistributorAbi, role)
    // A distributor deployed just now has this configuration's terms and clock from its constructor.
    if (!freshDistributor) {
      const liveClock = epochClockFromChain(
        await publicClient.readContract({
          address: distributor,
          abi: revenueDistributorAbi,
          functionName: 'epochClock',
        }),
      )
      if (clockText(liveClock) !== clockText(p.epochClock)) {
        const [latest, state] = await Promise.all([
          publicClient.getBlock({ blockTag: 'latest' }),
          publicClient.readContract({
            address: distributor,
            abi: revenueDistributorAbi,
            functionName: 'state',
          }),
        ])
        const clock = clockCheck(pool, liveClock, p.epochClock, {
          latestTimestampS: latest.timestamp,
          nextEpoch: state.nextEpoch,
        })
        if (typeof clock === 'object') throw new PoolConfigConflictError([clock], false)
        await write(distributor, revenueDistributorAbi, 'setEpochClock', [epochClockToChain(p.epochClock)])
        note(`epoch clock set: ${clockText(p.epochClock)}`)
      } else skip(`epoch clock: ${clockText(liveClock)}`)
      const live = await publicClient.readContract({
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'terms',
      })
      const livePayment = await publicClient.readContract({
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'paymentToken',
      })
      const payment = paymentTokenConflict(pool, livePayment, paymentToken)
      if (payment) throw new PoolConfigConflictError([payment], false)
      if (
        live.treasury.toLowerCase() !== treasury.toLowerCase() ||
        live.holdersBps !== terms.holdersBps ||
        SPLIT_MODES[live.splitMode] !== terms.splitMode
      ) {
        await write(distributor, revenueDistributorAbi, 'setTerms', [termsToChain(terms)])
        note(`terms set: ${terms.holdersBps} bps to holders, ${terms.splitMode}, treasury ${treasury}`)
      } else skip(`terms: ${terms.holdersBps} bps to holders, ${terms.splitMode}, treasury ${treasury}`)
    }
    const tokenAddress = token
    const distributorAddress = distributor

    // 4. The distributor hears of every (un)verification from the registry, so a claim needs no
    // call to it (contracts/src/RevenueDistributor.sol).
    const hooked = await publicClient.readContract({
      address: core.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'isHook',
      args: [distributorAddress],
    })
    if (!hooked) {
      await write(core.identityRegistry, identityRegistryAbi, 'addHook', [distributorAddress])
      note(`distributor registered as an IdentityRegistry hook`)
    } else skip('distributor registered as an IdentityRegistry hook')

    // 5. Investors verified and flagged in the distributor (an investor verified before the
    // distributor was a hook, e.g. for another pool, is verified again: that changes nothing in
    // the registry and flags it here), tokens minted up to the configured amount.
    const investors = plannedInvestors(pool, index, p.local)
    const unverified: Address[] = []
    const unflagged: Address[] = []
    for (const { account } of investors) {
      const [verified, flagged] = await Promise.all([
        publicClient.readContract({
          address: core.identityRegistry,
          abi: identityRegistryAbi,
          functionName: 'isVerified',
          args: [account],
        }),
        publicClient.readContract({
          address: distributorAddress,
          abi: revenueDistributorAbi,
          functionName: 'verifiedHere',
          args: [account],
        }),
      ])
      if (!verified && !unverified.includes(account)) unverified.push(account)
      else if (verified && !flagged && !unflagged.includes(account)) unflagged.push(account)
    }
    if (unverified.length + unflagged.length > 0) {
      await write(core.identityRegistry, identityRegistryAbi, 'verify', [[...unverified, ...unflagged]])
      if (unverified.length > 0) note(`verified ${unverified.join(', ')}`)
      if (unflagged.length > 0) note(`flagged as verified in the distributor: ${unflagged.join(', ')}`)
    } else if (investors.length > 0)
      skip(`${investors.length} investors verified and flagged in the distributor`)
    const plan = planMints(investors, await mintedByAccount(clients, tokenAddress, BigInt(deployedAtBlock)))
    const supply = supplyConflict(pool, plan)
    if (supply) throw new PoolConfigConflictError([supply], false)
    for (const { investor, amount } of plan.mint) {
      await write(tokenAddress, revenueShareTokenAbi, 'mint', [investor.account, amount])
      note(`minted ${formatUnits(amount, TOKEN_DECIMALS)} ${pool.token.symbol} to ${investor.account}`)
    }
    for (const { account, amount } of plan.done)
      skip(`${formatUnits(amount, TOKEN_DECIMALS)} ${pool.token.symbol} minted to ${account}`)
    for (const { investor, minted } of plan.over)
      todo.push(
        `${pool.poolId}: ${investor.account} was minted ${minted}, more than the configured ${investor.amount}; tokens are never burned`,
      )

    // 6. Treasury (local stack): funded in local-hkd and approved to the distributor.
    if (pool.treasuryFundingUnits !== undefined && pool.terms.paymentToken === 'local-hkd') {
      const target = BigInt(pool.treasuryFundingUnits)
      const balance = await publicClient.readContract({
        address: paymentToken,
        abi: hkdStablecoinAbi,
        functionName: 'balanceOf',
        args: [treasury],
      })
      if (balance < target) {
        await write(paymentToken, hkdStablecoinAbi, 'mint', [treasury, target - balance])
        note(`treasury ${treasury} funded with ${target - balance} units of local HKD`)
      } else skip(`treasury ${treasury} holds at least ${target} units of local HKD`)
    }
    const allowance = await publicClient.readContract({
      address: paymentToken,
      abi: hkdStablecoinAbi,
      functionName: 'allowance',
      args: [treasury, distributorAddress],
    })
    if (allowance < maxUint256 / 2n) {
      if (p.treasury && p.treasury.address.toLowerCase() === treasury.toLowerCase()) {
        const hash: Hex = await clients.walletClient.writeContract({
          address: paymentToken,
          abi: hkdStablecoinAbi,
          functionName: 'approve',
          args: [distributorAddress, maxUint256],
          account: p.treasury,
        } as never)
        await publicClient.waitForTransactionReceipt({ hash })
        note(`treasury ${treasury} approved the distributor`)
      } else {
        todo.push(
          `${pool.poolId}: the treasury ${treasury} must approve ${distributorAddress} on ${paymentToken}`,
        )
      }
    } else skip(`treasury ${treasury} approved the distributor`)

    pools[pool.poolId] = {
      poolId: pool.poolId,
      poolIdBytes32: poolId,
      token: tokenAddress,
      distributor: distributorAddress,
      paymentToken,
      treasury,
      firstEpoch: pool.firstEpoch,
      deployedAtBlock,
    }
    delete inProgress[pool.poolId]
    save()
  }
  return { contracts: current(), changes, todo }
}
