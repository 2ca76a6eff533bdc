/** Signing and submitting oracle proposals in tests and gas benchmarks. */
import type { Hex, TransactionReceipt } from 'viem'
import { revenueOracleAbi } from '../../../contracts/abi/index.ts'
import {
  EMPTY_ROOT,
  type EpochRootProposal,
  epochRootTypedData,
  packSignatures,
} from '../../../core/chain/epoch-root-typed-data.ts'
import type { System, Wallet } from './system.ts'

export const ZERO_HASH = EMPTY_ROOT

export function proposal(
  p: Partial<EpochRootProposal> & Pick<EpochRootProposal, 'poolId' | 'epoch'>,
): EpochRootProposal {
  return {
    root: `0x${'11'.repeat(32)}`,
    revenueUnits: 1_000_000n,
    energyWh: 5_000n,
    leafCount: 3,
    treeHash: `0x${'22'.repeat(32)}`,
    archiveHash: `0x${'33'.repeat(32)}`,
    ...p,
  }
}

export async function signProposal(
  system: System,
  signers: readonly Wallet[],
  p: EpochRootProposal,
  options: { attempt?: number; chainId?: number; oracle?: Hex } = {},
): Promise<Hex> {
  const typedData = epochRootTypedData({
    chainId: options.chainId ?? system.chain.id,
    oracle: options.oracle ?? system.contracts.revenueOracle,
    proposal: p,
    attempt: options.attempt ?? 0,
  })
  const signed = await Promise.all(
    signers.map(async (s) => ({
      signer: s.account.address,
      signature: await s.account.signTypedData!(typedData),
    })),
  )
  return packSignatures(signed)
}

export async function mined(system: System, hash: Hex): Promise<TransactionReceipt> {
  const receipt = await system.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted`)
  return receipt
}

export async function propose(system: System, p: EpochRootProposal, signatures: Hex, from?: Wallet) {
  const wallet = from ?? system.deployer.walletClient
  return mined(
    system,
    await wallet.writeContract({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'propose',
      args: [p, signatures],
    }),
  )
}

export async function finalize(system: System, poolId: Hex, epoch: bigint) {
  return mined(
    system,
    await system.deployer.walletClient.writeContract({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'finalize',
      args: [poolId, epoch],
    }),
  )
}

/** Moves this chain's time past the challenge window (own anvil only). */
export async function passWindow(system: System, seconds = 61) {
  await system.testClient.increaseTime({ seconds })
  await system.testClient.mine({ blocks: 1 })
}

export async function addPool(system: System, poolId: Hex, firstEpoch = 0n) {
  return mined(
    system,
    await system.deployer.walletClient.writeContract({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'addPool',
      args: [poolId, firstEpoch],
    }),
  )
}

/** Proposes with the first two signers, passes the window and finalizes. */
export async function finalizeEpoch(system: System, p: EpochRootProposal, attempt = 0) {
  const signatures = await signProposal(system, system.signers.slice(0, 2), p, { attempt })
  const proposed = await propose(system, p, signatures)
  await passWindow(system)
  const finalized = await finalize(system, p.poolId, p.epoch)
  return { proposed, finalized }
}
