/**
 * `npm run bench:distribute-gas`: gas of RevenueDistributor's claims and publish on anvil, at 10
 * and 100,000 holders (a 16–17-deep proof), paid to accounts that hold no stablecoin yet, against
 * PlainCumulativeDistributor (the textbook cumulative distributor: no holder check, no epochs,
 * no pause) measured on the same chain in the same run. Results: `first-claim-gas`,
 * `repeat-claim-gas`, `publish-gas` (params.holders).
 *
 * The pool is created the way `npm run pools` creates one: the distributor is registered as an
 * IdentityRegistry hook, then the holders are verified (which flags them in the distributor).
 * First claim: a holder with a 17-deep (deepest) proof that has claimed nothing yet. Average first
 * claim: holders in a random order; every holder's first claim costs the same but for its proof
 * depth, so at 100k it is measured on 400 random holders, not 100k transactions.
 */
import {
  type Address,
  encodeFunctionData,
  getAddress,
  type Hex,
  keccak256,
  type TransactionReceipt,
  toHex,
} from 'viem'
import {
  hkdStablecoinAbi,
  identityRegistryAbi,
  plainCumulativeDistributorAbi,
  revenueDistributorAbi,
} from '../contracts/abi/index.ts'
import { deployContract } from '../contracts/deploy/deploy-contract.ts'
import { deployPoolDistributor } from '../contracts/deploy/deploy-pool-contracts.ts'
import { startDedicatedAnvil } from '../test/contracts/support/dedicated-anvil.ts'
import { buildTree, type FastTree, HOLDER_LEAF_TYPES } from '../test/contracts/support/fast-tree.ts'
import { addPool, finalizeEpoch, proposal } from '../test/contracts/support/oracle.ts'
import { deploySystem, FIXED_EPOCH_CLOCK, poolIdHex, type System } from '../test/contracts/support/system.ts'
import { type GasBreakdown, gasBreakdown } from './support/gas-breakdown.ts'
import { type BenchResult, benchResult, formatResults } from './support/results.ts'
import { writeResults } from './support/write-gas-results.ts'

const HOLDER_COUNTS = (process.env.GRIDROOT_BENCH_HOLDERS ?? '10,100000').split(',').map(Number)
const HOLDERS_SAMPLED = 400
/** Accounts per verify transaction: each costs the registry and every hooked distributor a fresh word. */
const VERIFY_BATCH = 250

function holderAddress(pool: string, i: number): Address {
  return getAddress(`0x${keccak256(toHex(`gridroot.bench.holder\n${pool}\n${i}`)).slice(26)}`)
}

/** Deterministic shuffle (xorshift), so runs are comparable. */
function shuffle<T>(items: T[], seed: number): T[] {
  let s = seed >>> 0 || 1
  for (let i = items.length - 1; i > 0; i--) {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    const j = (s >>> 0) % (i + 1)
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}

interface Measured {
  firstClaim: number
  firstClaimDepth: number
  averageFirstClaim: number
  averageFirstClaimDepth: number
  averageClaims: number
  repeatClaim: number
  firstPublish: number
  publish: number
  /** Where the gas went (bench/support/gas-breakdown.ts). */
  breakdown: {
    firstClaim: GasBreakdown
    repeatClaim: GasBreakdown
    firstPublish: GasBreakdown
    publish: GasBreakdown
  }
}

async function measure(system: System, holders: number, plain: boolean): Promise<Measured> {
  const pool = `bench-${plain ? 'plain' : 'rd'}-${holders}`
  const poolId = poolIdHex(pool)
  const log = (msg: string) => console.error(`[distribute-gas ${pool}] ${msg}`)
  const accounts = Array.from({ length: holders }, (_, i) => holderAddress(pool, i))
  const coin = system.contracts.hkdStablecoin
  const relayer = system.wallet(11)
  await system.testClient.setBalance({ address: relayer.account.address, value: 10n ** 24n })
  const send = async (w: typeof relayer, request: Parameters<typeof relayer.writeContract>[0]) =>
    receiptOf(await w.writeContract(request))
  // A verify of 250 fresh accounts is ~17M gas: on a loaded machine anvil takes minutes.
  const receiptOf = async (hash: Hex) => {
    const receipt = await system.publicClient.waitForTransactionReceipt({ hash, timeout: 1_800_000 })
    if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted`)
    return receipt
  }
  // Traced sends: the breakdown of the call on the state it is about to run on, then the send.
  const breakdowns = new Map<string, GasBreakdown>()
  let roles: Record<string, string> = {}
  const sendTraced = async (
    key: string,
    w: typeof relayer,
    request: { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[] },
  ) => {
    const input = encodeFunctionData(request as never)
    const breakdown = await gasBreakdown(
      system.publicClient,
      { from: w.account.address, to: request.address, input },
      roles,
    )
    const receipt = await send(w, request as never)
    if (BigInt(breakdown.total as number) !== receipt.gasUsed)
      throw new Error(`${key}: traced ${breakdown.total} gas, the receipt says ${receipt.gasUsed}`)
    breakdowns.set(key, breakdown)
    return receipt
  }

  const amounts1 = accounts.map((_, i) => 1_000_000n + BigInt(i % 997) * 1_000n)
  const amounts2 = amounts1.map((a) => a + 500_000n)
  log('building trees')
  const tree1 = buildTree(
    accounts.map((a, i) => [poolId, a, amounts1[i] as bigint]),
    HOLDER_LEAF_TYPES,
  )
  const tree2 = buildTree(
    accounts.map((a, i) => [poolId, a, amounts2[i] as bigint]),
    HOLDER_LEAF_TYPES,
  )
  const total1 = amounts1.reduce((a, b) => a + b, 0n)
  const total2 = amounts2.reduce((a, b) => a + b, 0n)
  const proofOf = (tree: FastTree, i: number) => tree.proof(i)
  await send(system.deployer.walletClient, {
    address: coin,
    abi: hkdStablecoinAbi,
    functionName: 'mint',
    args: [system.treasury.account.address, total2 * 2n],
  } as never)

  let distributor: Address
  let publish: (
    key: string,
    epoch: bigint,
    root: string,
    total: bigint,
    increase: bigint,
  ) => Promise<TransactionReceipt>
  if (plain) {
    distributor = (
      await deployContract(system.deployer, system.compiled, 'PlainCumulativeDistributor', [coin, poolId])
    ).address
    await send(system.deployer.walletClient, {
      address: coin,
      abi: hkdStablecoinAbi,
      functionName: 'approve',
      args: [distributor, 2n ** 255n],
    } as never)
    publish = (key, _epoch, root, _total, increase) =>
      sendTraced(key, system.deployer.walletClient, {
        address: distributor,
        abi: plainCumulativeDistributorAbi,
        functionName: 'setRoot',
        args: [root as Hex, increase],
      })
    await send(system.deployer.walletClient, {
      address: coin,
      abi: hkdStablecoinAbi,
      functionName: 'mint',
      args: [system.deployer.walletClient.account.address, total2 * 2n],
    } as never)
  } else {
    await addPool(system, poolId)
    distributor = (
      await deployPoolDistributor(system.deployer, system.compiled, {
        poolIdBytes32: poolId,
        oracle: system.contracts.revenueOracle,
        identityRegistry: system.contracts.identityRegistry,
        paymentToken: coin,
        firstEpoch: 0n,
        terms: { treasury: system.treasury.account.address, holdersBps: 10_000, splitMode: 'time-weighted' },
        clock: FIXED_EPOCH_CLOCK,
        publisher: system.publisher.account.address,
        pauser: system.deployer.walletClient.account.address,
      })
    ).address
    await send(system.treasury, {
      address: coin,
      abi: hkdStablecoinAbi,
      functionName: 'approve',
      args: [distributor, 2n ** 255n],
    } as never)
    // The plain baseline checks no holder: only this pool's holders are verified.
    await send(system.deployer.walletClient, {
      address: system.contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'addHook',
      args: [distributor],
    } as never)
    log(`verifying ${holders} holders`)
    for (let i = 0; i < holders; i += VERIFY_BATCH) {
      await send(system.deployer.walletClient, {
        address: system.contracts.identityRegistry,
        abi: identityRegistryAbi,
        functionName: 'verify',
        args: [accounts.slice(i, i + VERIFY_BATCH)],
      } as never)
    }
    publish = async (key, epoch, root, total, increase) => {
      await finalizeEpoch(system, proposal({ poolId, epoch, revenueUnits: increase, leafCount: 1 }))
      return sendTraced(key, system.publisher, {
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'publish',
        args: [epoch, root as Hex, total, `0x${'44'.repeat(32)}`],
      })
    }
  }
  const claim = (tree: FastTree, i: number, amount: bigint, key?: string) => {
    const request = {
      address: distributor,
      abi: revenueDistributorAbi,
      functionName: 'claim',
      args: [accounts[i] as Address, amount, proofOf(tree, i)],
    }
    return key === undefined ? send(relayer, request as never) : sendTraced(key, relayer, request)
  }
  roles = {
    [distributor.toLowerCase()]: 'distributor',
    [coin.toLowerCase()]: 'token',
    [system.contracts.identityRegistry.toLowerCase()]: 'registry',
    [system.contracts.revenueOracle.toLowerCase()]: 'oracle',
  }

  const firstPublish = await publish('firstPublish', 0n, tree1.root, total1, total1)
  // Worst case: a 17-deep (deepest) proof.
  const depthOf = (i: number) => proofOf(tree1, i).length
  const maxDepth = Math.max(...accounts.map((_, i) => (holders > 1000 && i > 2000 ? 0 : depthOf(i))))
  const first = accounts.findIndex((_, i) => depthOf(i) === maxDepth)
  const firstClaim = await claim(tree1, first, amounts1[first] as bigint, 'firstClaim')

  // Average: every other holder (at 100k a random sample), claimed in a random order.
  const others = accounts.map((_, i) => i).filter((i) => i !== first)
  const order = shuffle(others, holders).slice(0, HOLDERS_SAMPLED)
  log(`${order.length} first claims in a random order`)
  let sum = 0
  let depthSum = 0
  for (const i of order) {
    sum += Number((await claim(tree1, i, amounts1[i] as bigint)).gasUsed)
    depthSum += proofOf(tree1, i).length
  }
  const publish2 = await publish('publish', 1n, tree2.root, total2, total2 - total1)
  const repeatClaim = await claim(tree2, first, amounts2[first] as bigint, 'repeatClaim')
  return {
    firstClaim: Number(firstClaim.gasUsed),
    firstClaimDepth: maxDepth,
    averageFirstClaim: sum / order.length,
    averageFirstClaimDepth: depthSum / order.length,
    averageClaims: order.length,
    repeatClaim: Number(repeatClaim.gasUsed),
    firstPublish: Number(firstPublish.gasUsed),
    publish: Number(publish2.gasUsed),
    breakdown: Object.fromEntries(breakdowns) as Measured['breakdown'],
  }
}

async function main(): Promise<void> {
  const anvil = await startDedicatedAnvil('distribute-gas')
  const results: BenchResult[][] = [[], [], []]
  try {
    const system = await deploySystem(anvil.endpoint)
    for (const holders of HOLDER_COUNTS) {
      const subject = await measure(system, holders, false)
      const baseline = await measure(system, holders, true)
      console.error(JSON.stringify({ holders, subject, baseline }))
      const params = { holders, subject, baseline }
      results[0]?.push(
        benchResult({
          name: 'first-claim-gas',
          subject: `RevenueDistributor first claim (${subject.firstClaimDepth}-deep proof, verified through the hook, fresh account)`,
          baseline: 'PlainCumulativeDistributor first claim, same holder',
          unit: 'gas',
          value: subject.firstClaim,
          baselineValue: baseline.firstClaim,
          params: {
            ...params,
            averageFirstClaimGas: Math.round(subject.averageFirstClaim),
            averageFirstClaimBaselineGas: Math.round(baseline.averageFirstClaim),
            targets: { firstClaim: 95_000, averageFirstClaim: 90_000 },
          },
        }),
      )
      results[1]?.push(
        benchResult({
          name: 'repeat-claim-gas',
          subject: 'RevenueDistributor claim after a new root (account holds stablecoin)',
          baseline: 'PlainCumulativeDistributor repeat claim',
          unit: 'gas',
          value: subject.repeatClaim,
          baselineValue: baseline.repeatClaim,
          params: { ...params, target: 62_000 },
        }),
      )
      results[2]?.push(
        benchResult({
          name: 'publish-gas',
          subject: 'RevenueDistributor publish of the second root with its funding pull',
          baseline: 'PlainCumulativeDistributor setRoot with a funding transferFrom',
          unit: 'gas',
          value: subject.publish,
          baselineValue: baseline.publish,
          params: { ...params, firstPublishGas: subject.firstPublish, target: 120_000 },
        }),
      )
    }
  } finally {
    await anvil.stop()
  }
  for (const set of results) if (set.length > 0) writeResults(set)
  console.log(formatResults(results.flat()))
}

await main()
