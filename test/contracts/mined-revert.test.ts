/**
 * A mined revert says why: the write's estimate (or simulation) passes, then a transaction
 * ordered before it in the same block invalidates it, and the receipt says only `reverted`.
 * runtime/chain/pool-chain.ts and the oracle's chain adapter replay it on its block and name the
 * decoded custom error. Automine is turned off, so this needs an anvil of its own.
 */
import { type Address, type Hex, toHex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hkdStablecoinAbi, revenueOracleAbi } from '../../contracts/abi/index.ts'
import { deployPoolDistributor } from '../../contracts/deploy/deploy-pool-contracts.ts'
import { devAccount } from '../../contracts/deploy/dev-accounts.ts'
import { epochRootTypedData } from '../../core/chain/epoch-root-typed-data.ts'
import { poolIdToBytes32 } from '../../core/merkle/index.ts'
import { explainMinedRevert } from '../../runtime/chain/mined-revert.ts'
import { createPoolChain } from '../../runtime/chain/pool-chain.ts'
import { createOracleChain, toContractProposal } from '../../services/oracle/adapters/chain.ts'
import type { Proposal } from '../../services/oracle/domain/proposal.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from './support/dedicated-anvil.ts'
import { addPool, finalizeEpoch, proposal } from './support/oracle.ts'
import { deploySystem, exec, FIXED_EPOCH_CLOCK, type System, type Wallet } from './support/system.ts'

let anvil: DedicatedAnvil
let system: System

beforeAll(async () => {
  anvil = await startDedicatedAnvil('mined-revert-test')
  system = await deploySystem(anvil.endpoint)
})
afterAll(async () => {
  await system?.testClient.setAutomine(true)
  await anvil?.stop()
})

/** Until the node's pool holds `count` pending transactions. */
async function pendingCount(count: number): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const status = await system.testClient.getTxpoolStatus()
    if (status.pending >= count) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`the node's pool never held ${count} pending transactions`)
}

/**
 * With automine off: starts `write` (which estimates on the latest block, sends and waits for its
 * receipt), then sends `front` with a higher tip (ordered before it in the block) and an explicit
 * gas limit (no estimate), mines one block and returns both outcomes.
 */
async function raceInOneBlock(
  write: () => Promise<unknown>,
  front: {
    wallet: Wallet
    address: Address
    abi: readonly unknown[]
    functionName: string
    args: readonly unknown[]
  },
) {
  await system.testClient.setAutomine(false)
  try {
    const written = write().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    )
    await pendingCount(1)
    const frontHash = await front.wallet.writeContract({
      address: front.address,
      abi: front.abi,
      functionName: front.functionName,
      args: front.args,
      gas: 1_000_000n,
      maxPriorityFeePerGas: 50_000_000_000n,
      maxFeePerGas: 100_000_000_000n,
    } as never)
    await pendingCount(2)
    await system.testClient.mine({ blocks: 1 })
    const frontReceipt = await system.publicClient.waitForTransactionReceipt({ hash: frontHash })
    return { written: await written, frontReceipt }
  } finally {
    await system.testClient.setAutomine(true)
  }
}

describe('a write whose transaction reverts in its block', () => {
  it('pool-chain publish: CHAIN_TX_FAILED names TreasuryUnderfunded, decoded from the replay', async () => {
    const treasury = system.treasury
    await exec(system, system.deployer.walletClient, {
      address: system.contracts.hkdStablecoin,
      abi: hkdStablecoinAbi,
      functionName: 'mint',
      args: [treasury.account.address, 10n ** 12n],
    })
    const poolId = 'mined-revert-pool'
    const poolIdBytes32 = poolIdToBytes32(poolId)
    await addPool(system, poolIdBytes32)
    const { address: distributor, blockNumber } = await deployPoolDistributor(
      system.deployer,
      system.compiled,
      {
        poolIdBytes32,
        oracle: system.contracts.revenueOracle,
        identityRegistry: system.contracts.identityRegistry,
        paymentToken: system.contracts.hkdStablecoin,
        firstEpoch: 0n,
        terms: { treasury: treasury.account.address, holdersBps: 5_000, splitMode: 'snapshot' },
        clock: FIXED_EPOCH_CLOCK,
        publisher: system.publisher.account.address,
        pauser: system.deployer.walletClient.account.address,
      },
    )
    await exec(system, treasury, {
      address: system.contracts.hkdStablecoin,
      abi: hkdStablecoinAbi,
      functionName: 'approve',
      args: [distributor, 10n ** 12n],
    })
    await finalizeEpoch(system, proposal({ poolId: poolIdBytes32, epoch: 0n, revenueUnits: 1_000n }))
    const chain = createPoolChain({
      publicClient: system.publicClient,
      walletClient: system.publisher,
      pool: {
        poolId,
        poolIdBytes32,
        token: system.contracts.hkdStablecoin,
        distributor,
        paymentToken: system.contracts.hkdStablecoin,
        treasury: treasury.account.address,
        firstEpoch: 0,
        deployedAtBlock: String(blockNumber),
      },
      oracle: system.contracts.revenueOracle,
      identityRegistry: system.contracts.identityRegistry,
      identityFromBlock: 0n,
    })

    // The treasury withdraws its approval in the same block, before the publish.
    const { written, frontReceipt } = await raceInOneBlock(
      () => chain.publish(0, `0x${'11'.repeat(32)}`, 400n, `0x${'22'.repeat(32)}`),
      {
        wallet: treasury,
        address: system.contracts.hkdStablecoin,
        abi: hkdStablecoinAbi,
        functionName: 'approve',
        args: [distributor, 0n],
      },
    )

    expect(frontReceipt.status).toBe('success')
    expect(written.ok).toBe(false)
    const error = (written as { error: Error & Record<string, unknown> }).error
    expect(error.name).toBe('ChainTransactionError')
    expect(error.code).toBe('CHAIN_TX_FAILED')
    expect(error.message).toContain('TreasuryUnderfunded(')
    expect(error.message).toContain('needed=400')
    expect(error.message).toContain('allowance=0')
    expect((error.revert as { errorName: string }).errorName).toBe('TreasuryUnderfunded')
    const details = error.details as Record<string, unknown>
    expect(details.outOfGas).toBe(false)
    expect(details.errorName).toBe('TreasuryUnderfunded')
    expect(details.blockNumber).toBe(String(frontReceipt.blockNumber))
  })

  it('oracle adapter propose: ORACLE_TX_REVERTED names AlreadyPending, decoded from the replay', async () => {
    const poolId = 'mined-revert-oracle'
    await addPool(system, poolIdToBytes32(poolId))
    const p: Proposal = {
      poolId,
      epoch: 0,
      attempt: 0,
      root: `0x${'11'.repeat(32)}`,
      revenueUnits: 1_000n,
      energyWh: 5_000n,
      leafCount: 3,
      treeHash: `0x${'22'.repeat(32)}`,
      archiveHash: `0x${'33'.repeat(32)}`,
    }
    const typedData = epochRootTypedData({
      chainId: system.chain.id,
      oracle: system.contracts.revenueOracle,
      proposal: toContractProposal(p),
      attempt: 0,
    })
    const signatures = await Promise.all(
      system.signers.slice(0, 2).map(async (s) => ({
        signer: s.account.address.toLowerCase() as Hex,
        signature: await s.account.signTypedData!(typedData),
      })),
    )
    const sender = devAccount(12)
    const oracleChain = createOracleChain({
      endpoint: anvil.endpoint,
      oracle: system.contracts.revenueOracle,
      fromBlock: 0n,
      senderKey: toHex(sender.getHdKey().privateKey as Uint8Array),
    })
    const packed = `0x${[...signatures]
      .sort((a, b) => (BigInt(a.signer) < BigInt(b.signer) ? -1 : 1))
      .map((s) => s.signature.slice(2))
      .join('')}` as Hex

    // Another submitter's propose of the same proposal lands first in the block.
    const { written, frontReceipt } = await raceInOneBlock(() => oracleChain.propose(p, signatures), {
      wallet: system.wallet(13),
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'propose',
      args: [toContractProposal(p), packed],
    })

    expect(frontReceipt.status).toBe('success')
    expect(written.ok).toBe(false)
    const error = (written as { error: Error & Record<string, unknown> }).error
    expect(error.name).toBe('TransactionRevertedError')
    expect(error.code).toBe('ORACLE_TX_REVERTED')
    expect(error.message).toContain('AlreadyPending(')
    expect((error.revert as { errorName: string }).errorName).toBe('AlreadyPending')
    const details = error.details as Record<string, unknown>
    expect(details.outOfGas).toBe(false)
    expect(details.blockNumber).toBe(String(frontReceipt.blockNumber))
  })

  it('names out of gas when the transaction used its whole gas limit, whatever the replay says', async () => {
    const hash = await system.wallet(14).writeContract({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'finalize',
      args: [poolIdToBytes32('mined-revert-gas'), 0n],
      // Above the intrinsic cost, below a cold storage read: the call runs out of gas.
      gas: 23_000n,
    })
    const receipt = await system.publicClient.waitForTransactionReceipt({ hash })
    expect(receipt.status).toBe('reverted')
    const mined = await explainMinedRevert(system.publicClient, receipt)
    expect(mined.outOfGas).toBe(true)
    expect(mined.gasUsed).toBe(23_000n)
    expect(mined.why).toBe('it ran out of gas (23000 of 23000 gas used)')
  })
})
