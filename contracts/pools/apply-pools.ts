/**
 * Brings the chain in line with config/pools.json and the device registry, pool by pool, and
 * reports every change it made. Each step first reads the chain and acts only on a difference, so
 * a second run changes nothing and says so:
 * registry root → oracle pool → token → distributor and terms → distributor registered as an
 * IdentityRegistry hook → investors verified (and flagged in the distributor) → tokens minted (up to the configured amount; mints are read back from Transfer events) → treasury
 * funded and approved (local stack).
 */
import { type Address, formatUnits, type Hex, maxUint256, parseAbiItem, parseUnits, zeroAddress } from 'viem'
import type { LocalAccount } from 'viem/accounts'
import { poolIdBytes32, registryCommitment } from '../../core/chain/registry-root.ts'
import { type EpochClock, epochClockFromChain, epochClockToChain } from '../../core/entitlement/index.ts'
import { GridrootError } from '../../core/errors/base.ts'
import type { DeviceRecord } from '../../core/identity/registry.ts'
import type { ContractsFile, PoolContracts } from '../../runtime/contracts-file.ts'
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
import {
  deployPoolDistributor,
  deployPoolToken,
  SPLIT_MODES,
  termsToChain,
} from '../deploy/deploy-pool-contracts.ts'
import { type PoolConfig, resolveAccount } from './pools-config.ts'

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
}

export interface ApplyPoolsResult {
  readonly contracts: ContractsFile
  readonly changes: readonly { readonly poolId: string; readonly change: string }[]
  /** Things an operator must still do (e.g. approve from a treasury this command has no key for). */
  readonly todo: readonly string[]
}

const TOKEN_DECIMALS = 18
const transferEvent = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)')

function clockText(c: EpochClock): string {
  return `device genesis ${new Date(c.deviceGenesisMs).toISOString()}, epochs of ${c.epochLengthMs} ms, chain genesis ${c.chainGenesisS} s, speed-up ${c.speedup}`
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
  const { publicClient } = clients
  const core = p.contracts.contracts
  const me = clients.walletClient.account.address

  for (const pool of p.pools) {
    const note = (change: string) => {
      changes.push({ poolId: pool.poolId, change })
      p.onChange?.(pool.poolId, change)
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
    }

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
    } else if (Number(oraclePool.firstEpoch) !== pool.firstEpoch) {
      throw new GridrootError(
        'POOL_CONFIG_CONFLICT',
        `pool ${pool.poolId} starts at epoch ${oraclePool.firstEpoch} on-chain`,
        {
          metaMessages: [`config/pools.json says ${pool.firstEpoch}; a pool's first epoch cannot change.`],
        },
      )
    }

    // 3. Token and distributor.
    const paymentToken =
      pool.terms.paymentToken === 'local-hkd' ? core.hkdStablecoin : (pool.terms.paymentToken as Address)
    if (!paymentToken)
      throw new GridrootError(
        'POOL_CONFIG_CONFLICT',
        `pool ${pool.poolId} pays in local-hkd, which is not deployed here`,
        {
          metaMessages: ['Name an existing payment token address in config/pools.json.'],
        },
      )
    const treasury = resolveAccount(pool.terms.treasury, p.local)
    const terms = { treasury, holdersBps: pool.terms.holdersBps, splitMode: pool.terms.splitMode }
    const recorded = pools[pool.poolId]
    let token = recorded?.token
    let deployedAtBlock = recorded?.deployedAtBlock
    if (!(await hasCode(clients, token))) {
      const deployed = await deployPoolToken(clients, p.compiled, {
        poolIdBytes32: poolId,
        name: pool.token.name,
        symbol: pool.token.symbol,
        identityRegistry: core.identityRegistry,
        issuer: me,
      })
      token = deployed.address
      deployedAtBlock = deployed.blockNumber.toString()
      note(`token ${pool.token.symbol} deployed at ${token}`)
    }
    let distributor = recorded?.distributor
    if (!(await hasCode(clients, distributor))) {
      distributor = (
        await deployPoolDistributor(clients, p.compiled, {
          poolIdBytes32: poolId,
          oracle: core.revenueOracle,
          identityRegistry: core.identityRegistry,
          paymentToken,
          firstEpoch: BigInt(pool.firstEpoch),
          terms,
          clock: p.epochClock,
          publisher: p.publisher,
          pauser: me,
        })
      ).address
      note(
        `distributor deployed at ${distributor} (terms ${terms.holdersBps} bps, ${terms.splitMode}; ${clockText(p.epochClock)})`,
      )
    } else {
      const liveClock = epochClockFromChain(
        await publicClient.readContract({
          address: distributor as Address,
          abi: revenueDistributorAbi,
          functionName: 'epochClock',
        }),
      )
      if (clockText(liveClock) !== clockText(p.epochClock)) {
        const [latest, state] = await Promise.all([
          publicClient.getBlock({ blockTag: 'latest' }),
          publicClient.readContract({
            address: distributor as Address,
            abi: revenueDistributorAbi,
            functionName: 'state',
          }),
        ])
        if (
          latest.timestamp >= BigInt(liveClock.chainGenesisS) ||
          Number(state.nextEpoch) !== pool.firstEpoch
        )
          throw new GridrootError(
            'POOL_CONFIG_CONFLICT',
            `pool ${pool.poolId} maps its epochs with ${clockText(liveClock)} on-chain, fixed since its chain genesis`,
            {
              metaMessages: [
                `The configuration (GRIDROOT_EPOCH_*, GRIDROOT_CHAIN_CLOCK_*) says ${clockText(p.epochClock)}.`,
                "A pool's clock cannot change once its chain genesis has passed: create a new pool.",
              ],
            },
          )
        await write(distributor as Address, revenueDistributorAbi, 'setEpochClock', [
          epochClockToChain(p.epochClock),
        ])
        note(`epoch clock set: ${clockText(p.epochClock)}`)
      }
      const live = await publicClient.readContract({
        address: distributor as Address,
        abi: revenueDistributorAbi,
        functionName: 'terms',
      })
      const livePayment = await publicClient.readContract({
        address: distributor as Address,
        abi: revenueDistributorAbi,
        functionName: 'paymentToken',
      })
      if (livePayment.toLowerCase() !== paymentToken.toLowerCase())
        throw new GridrootError(
          'POOL_CONFIG_CONFLICT',
          `pool ${pool.poolId} pays in ${livePayment} on-chain`,
          {
            metaMessages: ['The payment token of a distributor is fixed: create a new pool to change it.'],
          },
        )
      if (
        live.treasury.toLowerCase() !== treasury.toLowerCase() ||
        live.holdersBps !== terms.holdersBps ||
        SPLIT_MODES[live.splitMode] !== terms.splitMode
      ) {
        await write(distributor as Address, revenueDistributorAbi, 'setTerms', [termsToChain(terms)])
        note(`terms set: ${terms.holdersBps} bps to holders, ${terms.splitMode}, treasury ${treasury}`)
      }
    }
    const tokenAddress = token as Address
    const distributorAddress = distributor as Address

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
    }

    // 5. Investors verified and flagged in the distributor (an investor verified before the
    // distributor was a hook, e.g. for another pool, is verified again: that changes nothing in
    // the registry and flags it here), tokens minted up to the configured amount.
    const investors = pool.investors.map((i) => ({
      account: resolveAccount(i.account, p.local),
      amount: parseUnits(i.tokens, TOKEN_DECIMALS),
    }))
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
    }
    const mints = await publicClient.getLogs({
      address: tokenAddress,
      event: transferEvent,
      args: { from: zeroAddress },
      fromBlock: BigInt(deployedAtBlock ?? '0'),
    })
    for (const { account, amount } of investors) {
      const minted = mints
        .filter((log) => log.args.to?.toLowerCase() === account.toLowerCase())
        .reduce((sum, log) => sum + (log.args.value ?? 0n), 0n)
      if (minted < amount) {
        await write(tokenAddress, revenueShareTokenAbi, 'mint', [account, amount - minted])
        note(`minted ${formatUnits(amount - minted, TOKEN_DECIMALS)} ${pool.token.symbol} to ${account}`)
      } else if (minted > amount) {
        todo.push(
          `${pool.poolId}: ${account} was minted ${minted}, more than the configured ${amount}; tokens are never burned`,
        )
      }
    }

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
      }
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
    }

    pools[pool.poolId] = {
      poolId: pool.poolId,
      poolIdBytes32: poolId,
      token: tokenAddress,
      distributor: distributorAddress,
      paymentToken,
      treasury,
      firstEpoch: pool.firstEpoch,
      deployedAtBlock: deployedAtBlock ?? '0',
    }
  }
  return { contracts: { ...p.contracts, pools }, changes, todo }
}
