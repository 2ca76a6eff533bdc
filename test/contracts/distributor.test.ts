import { type Address, encodeFunctionData, type Hex, parseEventLogs } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  falseReturningTokenAbi,
  hkdStablecoinAbi,
  identityRegistryAbi,
  reentrantTokenAbi,
  revenueDistributorAbi,
} from '../../contracts/abi/index.ts'
import { deployContract } from '../../contracts/deploy/deploy-contract.ts'
import { ROLE } from '../../contracts/deploy/deploy-core.ts'
import { deployPoolDistributor } from '../../contracts/deploy/deploy-pool-contracts.ts'
import {
  type EpochClock,
  epochChainWindow,
  epochClockFromChain,
  epochClockToChain,
} from '../../core/entitlement/index.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from './support/dedicated-anvil.ts'
import { buildTree, type FastTree, HOLDER_LEAF_TYPES } from './support/fast-tree.ts'
import { addPool, finalizeEpoch, proposal } from './support/oracle.ts'
import { revertOf } from './support/revert.ts'
import {
  deploySystem,
  exec,
  FIXED_EPOCH_CLOCK,
  poolIdHex,
  type System,
  type Wallet,
} from './support/system.ts'

let anvil: DedicatedAnvil
let system: System

beforeAll(async () => {
  anvil = await startDedicatedAnvil('distributor-test')
  system = await deploySystem(anvil.endpoint)
  const admin = system.deployer.walletClient
  await exec(system, admin, {
    address: system.contracts.identityRegistry,
    abi: identityRegistryAbi,
    functionName: 'verify',
    args: [system.investors.map((w) => w.account.address)],
  })
  await exec(system, admin, {
    address: system.contracts.hkdStablecoin,
    abi: hkdStablecoinAbi,
    functionName: 'mint',
    args: [system.treasury.account.address, 10n ** 15n],
  })
})
afterAll(async () => {
  await anvil?.stop()
})

interface Pool {
  readonly poolId: Hex
  readonly distributor: Address
  readonly token: Address
  /** Finalizes oracle epoch `epoch` with `revenue` and publishes `amounts` (cumulative). */
  publish(epoch: bigint, amounts: Record<Address, bigint>, revenue?: bigint): Promise<FastTree>
  claim(tree: FastTree, amounts: Record<Address, bigint>, account: Address, from?: Wallet): Promise<bigint>
}

let poolCounter = 0
async function freshPool(
  options: { token?: Address; holdersBps?: number; hooked?: boolean; clock?: EpochClock } = {},
): Promise<Pool> {
  const poolId = poolIdHex(`dist-test-${++poolCounter}`)
  await addPool(system, poolId)
  const token = options.token ?? system.contracts.hkdStablecoin
  const { address: distributor } = await deployPoolDistributor(system.deployer, system.compiled, {
    poolIdBytes32: poolId,
    oracle: system.contracts.revenueOracle,
    identityRegistry: system.contracts.identityRegistry,
    paymentToken: token,
    firstEpoch: 0n,
    terms: {
      treasury: system.treasury.account.address,
      holdersBps: options.holdersBps ?? 5_000,
      splitMode: 'snapshot',
    },
    clock: options.clock ?? FIXED_EPOCH_CLOCK,
    publisher: system.publisher.account.address,
    pauser: system.deployer.walletClient.account.address,
  })
  await exec(system, system.treasury, {
    address: token,
    abi: hkdStablecoinAbi,
    functionName: 'approve',
    args: [distributor, 2n ** 200n],
  })
  if (options.hooked)
    await exec(system, system.deployer.walletClient, {
      address: system.contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'addHook',
      args: [distributor],
    })
  const treeOf = (amounts: Record<Address, bigint>) =>
    buildTree(
      Object.entries(amounts).map(([a, v]) => [poolId, a, v]),
      HOLDER_LEAF_TYPES,
    )
  return {
    poolId,
    distributor,
    token,
    async publish(epoch, amounts, revenue) {
      const total = Object.values(amounts).reduce((a, b) => a + b, 0n)
      await finalizeEpoch(system, proposal({ poolId, epoch, revenueUnits: revenue ?? total * 2n }))
      const tree = treeOf(amounts)
      await exec(system, system.publisher, {
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'publish',
        args: [epoch, tree.root, total, `0x${'ab'.repeat(32)}`],
      })
      return tree
    },
    async claim(tree, amounts, account, from) {
      const index = Object.keys(amounts).indexOf(account)
      const { result } = await exec(system, from ?? system.wallet(15), {
        address: distributor,
        abi: revenueDistributorAbi,
        functionName: 'claim',
        args: [account, amounts[account], tree.proof(index)],
      })
      return result as bigint
    },
  }
}

const balanceOf = (token: Address, account: Address) =>
  system.publicClient.readContract({
    address: token,
    abi: hkdStablecoinAbi,
    functionName: 'balanceOf',
    args: [account],
  })
const investor = (i: number) => (system.investors[i] as Wallet).account.address
const setVerified = (account: Address, verified: boolean) =>
  exec(system, system.deployer.walletClient, {
    address: system.contracts.identityRegistry,
    abi: identityRegistryAbi,
    functionName: verified ? 'verify' : 'unverify',
    args: [[account]],
  })

const verifiedHere = (pool: Pool, account: Address) =>
  system.publicClient.readContract({
    address: pool.distributor,
    abi: revenueDistributorAbi,
    functionName: 'verifiedHere',
    args: [account],
  })
const claimedOf = (pool: Pool, account: Address) =>
  system.publicClient.readContract({
    address: pool.distributor,
    abi: revenueDistributorAbi,
    functionName: 'claimed',
    args: [account],
  })
const rootOf = (pool: Pool) =>
  system.publicClient.readContract({
    address: pool.distributor,
    abi: revenueDistributorAbi,
    functionName: 'root',
  })

const publishRaw = (pool: Pool, wallet: Wallet, epoch: bigint, root: Hex, total: bigint) =>
  revertOf(() =>
    exec(system, wallet, {
      address: pool.distributor,
      abi: revenueDistributorAbi,
      functionName: 'publish',
      args: [epoch, root, total, root],
    }),
  )
const someRoot = `0x${'5a'.repeat(32)}` as Hex

describe('RevenueDistributor claims', () => {
  it('pays cumulative minus claimed to the account, whoever submits, and a repeat pays nothing', async () => {
    const pool = await freshPool()
    const a = investor(0)
    const b = investor(1)
    const amounts1 = { [a]: 300n, [b]: 700n }
    const tree1 = await pool.publish(0n, amounts1)
    expect(await balanceOf(pool.token, pool.distributor)).toBe(1_000n)
    const before = await balanceOf(pool.token, a)
    expect(await pool.claim(tree1, amounts1, a)).toBe(300n)
    expect(await balanceOf(pool.token, a)).toBe(before + 300n)
    expect(await pool.claim(tree1, amounts1, a, system.investors[1])).toBe(0n)
    expect(await balanceOf(pool.token, a)).toBe(before + 300n)

    const amounts2 = { [a]: 500n, [b]: 900n }
    const tree2 = await pool.publish(1n, amounts2)
    expect(await pool.claim(tree2, amounts2, a)).toBe(200n)
    expect(await pool.claim(tree2, amounts2, b)).toBe(900n)
    expect(await balanceOf(pool.token, pool.distributor)).toBe(0n)
    expect(await claimedOf(pool, a)).toBe(500n)
  })

  it("refuses another account's leaf, a proof from an old root, and a claim before any root", async () => {
    const pool = await freshPool()
    const a = investor(0)
    const b = investor(1)
    const noRoot = await revertOf(() =>
      exec(system, system.wallet(15), {
        address: pool.distributor,
        abi: revenueDistributorAbi,
        functionName: 'claim',
        args: [a, 1n, []],
      }),
    )
    expect(noRoot).toBe('NoRoot')
    expect(await rootOf(pool)).toBe(`0x${'0'.repeat(64)}`)
    const amounts1 = { [a]: 300n, [b]: 700n }
    const tree1 = await pool.publish(0n, amounts1)
    const claimWith = (account: Address, amount: bigint, proof: Hex[]) =>
      revertOf(() =>
        exec(system, system.wallet(15), {
          address: pool.distributor,
          abi: revenueDistributorAbi,
          functionName: 'claim',
          args: [account, amount, proof],
        }),
      )
    expect(await claimWith(b, 300n, tree1.proof(0))).toBe('InvalidProof')
    expect(await claimWith(a, 700n, tree1.proof(1))).toBe('InvalidProof')
    expect(await claimWith(a, 301n, tree1.proof(0))).toBe('InvalidProof')
    const amounts2 = { [a]: 400n, [b]: 800n }
    await pool.publish(1n, amounts2)
    expect(await claimWith(a, 300n, tree1.proof(0))).toBe('InvalidProof')
  })

  it('pays only verified accounts, and stops paying one that is unverified later', async () => {
    const pool = await freshPool()
    const a = investor(2)
    const stranger = system.wallet(16).account.address
    const amounts1 = { [a]: 100n, [stranger]: 100n }
    const tree1 = await pool.publish(0n, amounts1)
    expect(await revertOf(() => pool.claim(tree1, amounts1, stranger))).toBe('NotVerified')
    expect(await pool.claim(tree1, amounts1, a)).toBe(100n)
    await setVerified(a, false)
    const amounts2 = { [a]: 250n, [stranger]: 100n }
    const tree2 = await pool.publish(1n, amounts2)
    expect(await revertOf(() => pool.claim(tree2, amounts2, a))).toBe('NotVerified')
    await setVerified(a, true)
    expect(await pool.claim(tree2, amounts2, a)).toBe(150n)
  })

  it('stops claims and publishing while paused, and only the pauser pauses', async () => {
    const pool = await freshPool()
    const a = investor(0)
    const amounts = { [a]: 100n }
    const tree = await pool.publish(0n, amounts)
    const pause = (wallet: Wallet, fn: 'pause' | 'unpause') =>
      exec(system, wallet, { address: pool.distributor, abi: revenueDistributorAbi, functionName: fn })
    expect(await revertOf(() => pause(system.publisher, 'pause'))).toBe('AccessControlUnauthorizedAccount')
    expect(await revertOf(() => pause(system.deployer.walletClient, 'unpause'))).toBe('ExpectedPause')
    await pause(system.deployer.walletClient, 'pause')
    expect(await revertOf(() => pause(system.deployer.walletClient, 'pause'))).toBe('EnforcedPause')
    expect(await revertOf(() => pool.claim(tree, amounts, a))).toBe('EnforcedPause')
    const root = await system.publicClient.readContract({
      address: pool.distributor,
      abi: revenueDistributorAbi,
      functionName: 'root',
    })
    expect(root).toBe(tree.root)
    await finalizeEpoch(system, proposal({ poolId: pool.poolId, epoch: 1n }))
    const publishPaused = await revertOf(() =>
      exec(system, system.publisher, {
        address: pool.distributor,
        abi: revenueDistributorAbi,
        functionName: 'publish',
        args: [1n, tree.root, 100n, tree.root],
      }),
    )
    expect(publishPaused).toBe('EnforcedPause')
    await pause(system.deployer.walletClient, 'unpause')
    expect(await pool.claim(tree, amounts, a)).toBe(100n)
  })
})

describe('RevenueDistributor verified flags from the IdentityRegistry hook', () => {
  it('claims on the flag the registry pushes; unverified after the root is published cannot claim, re-verified can', async () => {
    const pool = await freshPool({ hooked: true })
    // Accounts verified only after the distributor became a hook: the push flags them.
    const a = system.wallet(12).account.address
    const b = system.wallet(13).account.address
    expect(await verifiedHere(pool, a)).toBe(false)
    await exec(system, system.deployer.walletClient, {
      address: system.contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'verify',
      args: [[a, b]],
    })
    expect(await verifiedHere(pool, a)).toBe(true)
    expect(await verifiedHere(pool, b)).toBe(true)
    const amounts1 = { [a]: 100n, [b]: 200n }
    const tree1 = await pool.publish(0n, amounts1)
    expect(await pool.claim(tree1, amounts1, a)).toBe(100n)
    // Claiming keeps the flag; unverifying (after the next root is live) clears it.
    expect(await verifiedHere(pool, a)).toBe(true)
    const amounts2 = { [a]: 150n, [b]: 200n }
    const tree2 = await pool.publish(1n, amounts2)
    await setVerified(a, false)
    await setVerified(b, false)
    expect(await verifiedHere(pool, a)).toBe(false)
    expect(await revertOf(() => pool.claim(tree2, amounts2, a))).toBe('NotVerified')
    expect(await revertOf(() => pool.claim(tree2, amounts2, b))).toBe('NotVerified')
    await setVerified(a, true)
    expect(await verifiedHere(pool, a)).toBe(true)
    expect(await pool.claim(tree2, amounts2, a)).toBe(50n)
    expect(await revertOf(() => pool.claim(tree2, amounts2, b))).toBe('NotVerified')
    expect(await claimedOf(pool, a)).toBe(150n)
  })

  it('asks the registry for holders verified before it became a hook, until they are verified again', async () => {
    const pool = await freshPool({ hooked: true })
    // investor(0) and investor(1) were verified in beforeAll, before this distributor existed.
    const a = investor(0)
    const b = investor(1)
    expect(await verifiedHere(pool, a)).toBe(false)
    const amounts = { [a]: 10n, [b]: 20n }
    const tree = await pool.publish(0n, amounts)
    expect(await pool.claim(tree, amounts, a)).toBe(10n)
    // Re-verifying an account that is verified changes nothing in the registry (no event) but
    // brings the hook up to date.
    const again = await exec(system, system.deployer.walletClient, {
      address: system.contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'verify',
      args: [[b]],
    })
    expect(again.receipt.logs.length).toBe(0)
    expect(await verifiedHere(pool, b)).toBe(true)
    // Unverified while not flagged: the registry still says no.
    await setVerified(a, false)
    const amounts2 = { [a]: 15n, [b]: 20n }
    const tree2 = await pool.publish(1n, amounts2)
    expect(await revertOf(() => pool.claim(tree2, amounts2, a))).toBe('NotVerified')
    await setVerified(a, true)
    expect(await pool.claim(tree2, amounts2, a)).toBe(5n)
    expect(await pool.claim(tree2, amounts2, b)).toBe(20n)
  })

  it('takes flags from the registry only, and the registry adds each hook once, by its admin', async () => {
    const pool = await freshPool({ hooked: true })
    const a = system.wallet(14).account.address
    const forged = await revertOf(() =>
      exec(system, system.wallet(14), {
        address: pool.distributor,
        abi: revenueDistributorAbi,
        functionName: 'identitiesChanged',
        args: [[a], true],
      }),
    )
    expect(forged).toBe('NotIdentityRegistry')
    expect(await verifiedHere(pool, a)).toBe(false)
    const addHook = (wallet: Wallet, hook: Address) =>
      revertOf(() =>
        exec(system, wallet, {
          address: system.contracts.identityRegistry,
          abi: identityRegistryAbi,
          functionName: 'addHook',
          args: [hook],
        }),
      )
    expect(await addHook(system.deployer.walletClient, pool.distributor)).toBe('HookExists')
    expect(await addHook(system.guardian, system.guardian.account.address)).toBe(
      'AccessControlUnauthorizedAccount',
    )
    expect(await addHook(system.deployer.walletClient, '0x0000000000000000000000000000000000000000')).toBe(
      'ZeroAccount',
    )
    // A hook that would revert on every change blocks verify and unverify for good (hooks are
    // never removed): an account without code, and contracts that are not this registry's hooks.
    expect(await addHook(system.deployer.walletClient, system.wallet(15).account.address)).toBe(
      'HookRejected',
    )
    expect(await addHook(system.deployer.walletClient, system.contracts.revenueOracle)).toBe('HookRejected')
    expect(await addHook(system.deployer.walletClient, system.contracts.identityRegistry)).toBe(
      'HookRejected',
    )
    const [isHook, hooks] = await Promise.all([
      system.publicClient.readContract({
        address: system.contracts.identityRegistry,
        abi: identityRegistryAbi,
        functionName: 'isHook',
        args: [pool.distributor],
      }),
      system.publicClient.readContract({
        address: system.contracts.identityRegistry,
        abi: identityRegistryAbi,
        functionName: 'hooks',
      }),
    ])
    expect(isHook).toBe(true)
    expect(hooks.map((h) => h.toLowerCase())).toContain(pool.distributor.toLowerCase())
  })

  it('publishes a zero root for an epoch that paid nothing, and has nothing to claim then', async () => {
    const pool = await freshPool({ hooked: true })
    await finalizeEpoch(system, proposal({ poolId: pool.poolId, epoch: 0n, revenueUnits: 0n }))
    await exec(system, system.publisher, {
      address: pool.distributor,
      abi: revenueDistributorAbi,
      functionName: 'publish',
      args: [0n, `0x${'0'.repeat(64)}`, 0n, someRoot],
    })
    expect(await rootOf(pool)).toBe(`0x${'0'.repeat(64)}`)
    const claim = await revertOf(() =>
      exec(system, system.wallet(15), {
        address: pool.distributor,
        abi: revenueDistributorAbi,
        functionName: 'claim',
        args: [investor(0), 1n, []],
      }),
    )
    expect(claim).toBe('NoRoot')
  })
})

describe('RevenueDistributor epoch clock', () => {
  it('maps epochs onto chain seconds as core/entitlement does, and is adjustable only until its chain genesis', async () => {
    const nowS = Number((await system.publicClient.getBlock()).timestamp)
    const clock = {
      deviceGenesisMs: Date.parse('2026-06-01T00:00:00+08:00'),
      epochLengthMs: 3_600_000,
      chainGenesisS: nowS + 1_000,
      speedup: 600,
    }
    const pool = await freshPool({ clock })
    const read = <T>(functionName: string, args: readonly unknown[] = []) =>
      system.publicClient.readContract({
        address: pool.distributor,
        abi: revenueDistributorAbi,
        functionName,
        args,
      } as never) as Promise<T>
    const windowOf = async (epoch: number) => {
      const [startS, endS] = await read<[bigint, bigint]>('epochWindow', [BigInt(epoch)])
      return { startS: Number(startS), endS: Number(endS) }
    }
    const grid = { genesisMs: clock.deviceGenesisMs, epochLengthMs: clock.epochLengthMs, intervalMs: 300_000 }
    expect(epochClockFromChain(await read('epochClock'))).toEqual(clock)
    for (const epoch of [0, 1, 7, 1_000])
      expect(await windowOf(epoch)).toEqual(epochChainWindow(grid, clock, epoch))
    // A speed-up that does not divide the epoch: windows still tile, rounded up like the TS.
    const odd = { ...clock, speedup: 7 }
    const setClock = (wallet: Wallet, c: EpochClock) =>
      exec(system, wallet, {
        address: pool.distributor,
        abi: revenueDistributorAbi,
        functionName: 'setEpochClock',
        args: [epochClockToChain(c)],
      })
    expect(await revertOf(() => setClock(system.publisher, odd))).toBe('AccessControlUnauthorizedAccount')
    expect(await revertOf(() => setClock(system.deployer.walletClient, { ...clock, speedup: 0 }))).toBe(
      'InvalidEpochClock',
    )
    expect(
      await revertOf(() => setClock(system.deployer.walletClient, { ...clock, epochLengthMs: 599_999 })),
    ).toBe('InvalidEpochClock')
    const { receipt } = await setClock(system.deployer.walletClient, odd)
    const [set] = parseEventLogs({
      abi: revenueDistributorAbi,
      logs: receipt.logs,
      eventName: 'EpochClockSet',
    })
    expect(set?.args.speedup).toBe(7)
    for (const epoch of [0, 1, 2, 3, 999])
      expect(await windowOf(epoch)).toEqual(epochChainWindow(grid, odd, epoch))
    expect((await windowOf(4)).startS).toBe((await windowOf(3)).endS)
    // Once a block at or after the chain genesis exists, the clock is fixed.
    await system.testClient.setNextBlockTimestamp({ timestamp: BigInt(odd.chainGenesisS) })
    await system.testClient.mine({ blocks: 1 })
    expect(await revertOf(() => setClock(system.deployer.walletClient, clock))).toBe('EpochClockFixed')
    expect(epochClockFromChain(await read('epochClock'))).toEqual(odd)
  })

  it('is fixed from creation when its genesis is past, and refuses an epoch shorter than a chain second', async () => {
    const pool = await freshPool()
    const fixed = await revertOf(() =>
      exec(system, system.deployer.walletClient, {
        address: pool.distributor,
        abi: revenueDistributorAbi,
        functionName: 'setEpochClock',
        args: [epochClockToChain({ ...FIXED_EPOCH_CLOCK, speedup: 2 })],
      }),
    )
    expect(fixed).toBe('EpochClockFixed')
    await expect(freshPool({ clock: { ...FIXED_EPOCH_CLOCK, epochLengthMs: 999 } })).rejects.toThrow()
  })
})

describe('RevenueDistributor publishing', () => {
  it('publishes only finalized epochs of its pool, in order, by the publisher', async () => {
    const pool = await freshPool()
    expect(await publishRaw(pool, system.publisher, 0n, someRoot, 10n)).toBe('NotFinalized')
    expect(await publishRaw(pool, system.publisher, 1n, someRoot, 10n)).toBe('EpochOutOfOrder')
    expect(await publishRaw(pool, system.deployer.walletClient, 0n, someRoot, 10n)).toBe(
      'AccessControlUnauthorizedAccount',
    )
    await finalizeEpoch(system, proposal({ poolId: pool.poolId, epoch: 0n, revenueUnits: 1_000n }))
    await finalizeEpoch(system, proposal({ poolId: pool.poolId, epoch: 1n, revenueUnits: 1_000n }))
    expect(await publishRaw(pool, system.publisher, 1n, someRoot, 10n)).toBe('EpochOutOfOrder')
    // holdersBps 5000 of 1000 units: at most 500 per epoch.
    expect(await publishRaw(pool, system.publisher, 0n, someRoot, 501n)).toBe('FundingAboveEntitlement')
    expect(await publishRaw(pool, system.publisher, 0n, `0x${'0'.repeat(64)}`, 10n)).toBe('ZeroRoot')
    const { receipt } = await exec(system, system.publisher, {
      address: pool.distributor,
      abi: revenueDistributorAbi,
      functionName: 'publish',
      args: [0n, someRoot, 500n, someRoot],
    })
    const [event] = parseEventLogs({
      abi: revenueDistributorAbi,
      logs: receipt.logs,
      eventName: 'RootPublished',
    })
    expect(event?.args.funded).toBe(500n)
    expect(await publishRaw(pool, system.publisher, 0n, someRoot, 500n)).toBe('EpochOutOfOrder')
    expect(await publishRaw(pool, system.publisher, 1n, someRoot, 499n)).toBe('CumulativeDecreased')
    // Nothing new for holders: the same root and total, published in order, funds nothing.
    const unchanged = await exec(system, system.publisher, {
      address: pool.distributor,
      abi: revenueDistributorAbi,
      functionName: 'publish',
      args: [1n, someRoot, 500n, someRoot],
    })
    const [second] = parseEventLogs({
      abi: revenueDistributorAbi,
      logs: unchanged.receipt.logs,
      eventName: 'RootPublished',
    })
    expect(second?.args.funded).toBe(0n)
  })

  it('refuses to publish what the treasury cannot pay', async () => {
    const pool = await freshPool({ holdersBps: 10_000 })
    const huge = 10n ** 16n
    await finalizeEpoch(system, proposal({ poolId: pool.poolId, epoch: 0n, revenueUnits: huge }))
    expect(await publishRaw(pool, system.publisher, 0n, someRoot, huge)).toBe('TreasuryUnderfunded')
    await exec(system, system.treasury, {
      address: pool.token,
      abi: hkdStablecoinAbi,
      functionName: 'approve',
      args: [pool.distributor, 5n],
    })
    expect(await publishRaw(pool, system.publisher, 0n, someRoot, 6n)).toBe('TreasuryUnderfunded')
  })
})

describe('RevenueDistributor with hostile payment tokens', () => {
  it('pays once when the payment token re-enters claim, and blocks re-entering publish', async () => {
    const { address: token } = await deployContract(system.deployer, system.compiled, 'ReentrantToken', [])
    await exec(system, system.deployer.walletClient, {
      address: token,
      abi: reentrantTokenAbi,
      functionName: 'mint',
      args: [system.treasury.account.address, 10n ** 12n],
    })
    const pool = await freshPool({ token })
    const a = investor(3)
    const amounts = { [a]: 100n }
    const tree = await pool.publish(0n, amounts)
    await exec(system, system.deployer.walletClient, {
      address: token,
      abi: reentrantTokenAbi,
      functionName: 'arm',
      args: [
        pool.distributor,
        encodeFunctionData({
          abi: revenueDistributorAbi,
          functionName: 'claim',
          args: [a, 100n, tree.proof(0)],
        }),
      ],
    })
    expect(await pool.claim(tree, amounts, a)).toBe(100n)
    expect(await balanceOf(token, a)).toBe(100n)
    expect(await balanceOf(token, pool.distributor)).toBe(0n)

    await exec(system, system.deployer.walletClient, {
      address: pool.distributor,
      abi: revenueDistributorAbi,
      functionName: 'grantRole',
      args: [ROLE.publisher, token],
    })
    await finalizeEpoch(system, proposal({ poolId: pool.poolId, epoch: 1n }))
    await finalizeEpoch(system, proposal({ poolId: pool.poolId, epoch: 2n }))
    await exec(system, system.deployer.walletClient, {
      address: token,
      abi: reentrantTokenAbi,
      functionName: 'arm',
      args: [
        pool.distributor,
        encodeFunctionData({
          abi: revenueDistributorAbi,
          functionName: 'publish',
          args: [2n, tree.root, 300n, tree.root],
        }),
      ],
    })
    expect(await publishRaw(pool, system.publisher, 1n, tree.root, 200n)).toBe('ReentrancyGuardReentrantCall')
  })

  it('refuses a payment token that returns false, and one that delivers short', async () => {
    const { address: token } = await deployContract(
      system.deployer,
      system.compiled,
      'FalseReturningToken',
      [],
    )
    const call = (functionName: string, args: readonly unknown[]) =>
      exec(system, system.deployer.walletClient, {
        address: token,
        abi: falseReturningTokenAbi,
        functionName,
        args,
      })
    await call('mint', [system.treasury.account.address, 10n ** 12n])
    const pool = await freshPool({ token })
    const a = investor(4)
    const amounts = { [a]: 100n }
    const tree = await pool.publish(0n, amounts)
    await call('setFailing', [true])
    expect(await revertOf(() => pool.claim(tree, amounts, a))).toBe('SafeERC20FailedOperation')
    await finalizeEpoch(system, proposal({ poolId: pool.poolId, epoch: 1n }))
    expect(await publishRaw(pool, system.publisher, 1n, tree.root, 200n)).toBe('SafeERC20FailedOperation')
    await call('setFailing', [false])
    await call('setFeeOnTransfer', [true])
    expect(await publishRaw(pool, system.publisher, 1n, tree.root, 200n)).toBe('FundingNotExact')
  })
})
