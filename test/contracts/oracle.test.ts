import { type Hex, parseEventLogs, zeroAddress } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { EMPTY_ROOT } from '../../core/chain/epoch-root-typed-data.ts'
import { buildDeviceTree, type DeviceLeaf, deviceLeafHash } from '../../core/merkle/index.ts'
import { toContractDeviceLeaf } from '../../services/oracle/adapters/chain.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from './support/dedicated-anvil.ts'
import { addPool, passWindow, proposal, signProposal } from './support/oracle.ts'
import { revertOf } from './support/revert.ts'
import { deploySystem, exec, poolIdHex, type System, type Wallet } from './support/system.ts'

let anvil: DedicatedAnvil
let system: System
const oracle = () => system.contracts.revenueOracle

beforeAll(async () => {
  anvil = await startDedicatedAnvil('oracle-test')
  system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: 60 })
})
afterAll(async () => {
  await anvil?.stop()
})

const write = (wallet: Wallet, functionName: string, args: readonly unknown[]) =>
  exec(system, wallet, { address: oracle(), abi: revenueOracleAbi, functionName, args })
const read = (functionName: string, args: readonly unknown[]) =>
  system.publicClient.readContract({ address: oracle(), abi: revenueOracleAbi, functionName, args } as never)
const admin = () => system.deployer.walletClient
const submit = (p: ReturnType<typeof proposal>, signatures: Hex) => write(admin(), 'propose', [p, signatures])

let poolCounter = 0
async function freshPool(firstEpoch = 0n): Promise<Hex> {
  const poolId = poolIdHex(`oracle-test-${++poolCounter}`)
  await addPool(system, poolId, firstEpoch)
  return poolId
}

describe('RevenueOracle proposals', () => {
  it('takes a 2-of-3 root, keeps it pending for the window, then finalizes it', async () => {
    const poolId = await freshPool(5n)
    const p = proposal({ poolId, epoch: 5n })
    const { receipt } = await submit(p, await signProposal(system, system.signers.slice(1, 3), p))
    const [event] = parseEventLogs({ abi: revenueOracleAbi, logs: receipt.logs, eventName: 'EpochProposed' })
    expect(event?.args.proposal.root).toBe(p.root)
    expect(event?.args.signers.length).toBe(2)
    const record = (await read('epochRecord', [poolId, 5n])) as { status: number; revenueUnits: bigint }
    expect(record.status).toBe(1)
    expect(record.revenueUnits).toBe(p.revenueUnits)
    expect(await revertOf(() => write(admin(), 'finalize', [poolId, 5n]))).toBe('ChallengeWindowOpen')
    expect(await revertOf(() => read('finalizedRevenue', [poolId, 5n]))).toBe('NotFinalized')
    await passWindow(system)
    await write(system.signers[0] as Wallet, 'finalize', [poolId, 5n])
    expect(await read('finalizedRevenue', [poolId, 5n])).toBe(p.revenueUnits)
    expect(await read('finalizedRoot', [poolId, 5n])).toBe(p.root)
    expect(((await read('poolOf', [poolId])) as { nextEpoch: bigint }).nextEpoch).toBe(6n)
    expect(await revertOf(() => write(admin(), 'finalize', [poolId, 5n]))).toBe('NotPending')
  })

  it('gives an epoch without leaves the empty root and refuses mismatched empty epochs', async () => {
    const poolId = await freshPool()
    const bad = [
      proposal({ poolId, epoch: 0n, root: EMPTY_ROOT, leafCount: 2, revenueUnits: 0n, energyWh: 0n }),
      proposal({ poolId, epoch: 0n, leafCount: 0, revenueUnits: 0n, energyWh: 0n }),
      proposal({ poolId, epoch: 0n, root: EMPTY_ROOT, leafCount: 0, revenueUnits: 1n, energyWh: 0n }),
    ]
    for (const p of bad) {
      expect(
        await revertOf(async () => submit(p, await signProposal(system, system.signers.slice(0, 2), p))),
      ).toBe('EmptyEpochMismatch')
    }
    const empty = proposal({
      poolId,
      epoch: 0n,
      root: EMPTY_ROOT,
      leafCount: 0,
      revenueUnits: 0n,
      energyWh: 0n,
    })
    await submit(empty, await signProposal(system, system.signers.slice(0, 2), empty))
    await passWindow(system)
    await write(admin(), 'finalize', [poolId, 0n])
    expect(await read('finalizedRevenue', [poolId, 0n])).toBe(0n)
  })

  it('refuses signatures below threshold, duplicated, unordered, malformed or from non-signers', async () => {
    const poolId = await freshPool()
    const p = proposal({ poolId, epoch: 0n })
    const [s1, s2, s3] = system.signers as [Wallet, Wallet, Wallet]
    const one = await signProposal(system, [s1], p)
    expect(await revertOf(() => submit(p, one))).toBe('BelowThreshold')
    expect(await revertOf(() => submit(p, '0x'))).toBe('BelowThreshold')
    expect(await revertOf(() => submit(p, `${one}${one.slice(2)}` as Hex))).toBe('SignersNotAscending')
    const sorted = await signProposal(system, [s1, s2], p)
    const swapped = `0x${sorted.slice(132)}${sorted.slice(2, 132)}` as Hex
    expect(await revertOf(() => submit(p, swapped))).toBe('SignersNotAscending')
    expect(await revertOf(() => submit(p, `${sorted}00` as Hex))).toBe('MalformedSignatures')
    const outsider = await signProposal(system, [s1, system.wallet(12)], p)
    expect(await revertOf(() => submit(p, outsider))).toBe('NotSigner')
    const garbage = `0x${'ff'.repeat(130)}` as Hex
    expect(await revertOf(() => submit(p, garbage))).toBe('InvalidSignature')
    await submit(p, await signProposal(system, [s1, s2, s3], p))
  })

  it('refuses a signature made for another pool, epoch, chain, contract or attempt', async () => {
    const poolId = await freshPool()
    const other = await freshPool()
    const p = proposal({ poolId, epoch: 0n })
    const two = system.signers.slice(0, 2)
    const variants: Hex[] = [
      await signProposal(system, two, { ...p, poolId: other }),
      await signProposal(system, two, { ...p, epoch: 1n }),
      await signProposal(system, two, p, { chainId: 1 }),
      await signProposal(system, two, p, { oracle: system.contracts.identityRegistry }),
      await signProposal(system, two, p, { attempt: 1 }),
      await signProposal(system, two, { ...p, revenueUnits: p.revenueUnits + 1n }),
    ]
    for (const signatures of variants) {
      expect(['NotSigner', 'SignersNotAscending']).toContain(await revertOf(() => submit(p, signatures)))
    }
  })

  it('advances epochs strictly: no skipping, no second proposal while one is pending', async () => {
    const poolId = await freshPool()
    const two = system.signers.slice(0, 2)
    const skip = proposal({ poolId, epoch: 1n })
    expect(await revertOf(async () => submit(skip, await signProposal(system, two, skip)))).toBe(
      'EpochOutOfOrder',
    )
    const p = proposal({ poolId, epoch: 0n })
    await submit(p, await signProposal(system, two, p))
    const again = proposal({ poolId, epoch: 0n, root: `0x${'99'.repeat(32)}` })
    expect(await revertOf(async () => submit(again, await signProposal(system, two, again)))).toBe(
      'AlreadyPending',
    )
    const next = proposal({ poolId, epoch: 1n })
    expect(await revertOf(async () => submit(next, await signProposal(system, two, next)))).toBe(
      'EpochOutOfOrder',
    )
    const unknown = proposal({ poolId: poolIdHex('never-added'), epoch: 0n })
    expect(await revertOf(async () => submit(unknown, await signProposal(system, two, unknown)))).toBe(
      'UnknownPool',
    )
  })

  it('lets the guardian reject within the window, then takes a corrected root under the next attempt', async () => {
    const poolId = await freshPool()
    const two = system.signers.slice(0, 2)
    const wrong = proposal({ poolId, epoch: 0n, root: `0x${'66'.repeat(32)}` })
    const wrongSignatures = await signProposal(system, two, wrong)
    await submit(wrong, wrongSignatures)
    const reason = `0x${Buffer.from('ROOT_MISMATCH').toString('hex').padEnd(64, '0')}` as Hex
    expect(await revertOf(() => write(system.signers[0] as Wallet, 'reject', [poolId, 0n, reason]))).toBe(
      'AccessControlUnauthorizedAccount',
    )
    const { receipt } = await write(system.guardian, 'reject', [poolId, 0n, reason])
    const [rejected] = parseEventLogs({
      abi: revenueOracleAbi,
      logs: receipt.logs,
      eventName: 'EpochRejected',
    })
    expect(rejected?.args.attempt).toBe(0)
    expect(await revertOf(() => write(system.guardian, 'reject', [poolId, 0n, reason]))).toBe('NotPending')
    expect(await revertOf(() => write(admin(), 'finalize', [poolId, 0n]))).toBe('NotPending')
    // The rejected proposal cannot be replayed with its old signatures.
    expect(['NotSigner', 'SignersNotAscending']).toContain(
      await revertOf(() => submit(wrong, wrongSignatures)),
    )
    const corrected = proposal({ poolId, epoch: 0n })
    await submit(corrected, await signProposal(system, two, corrected, { attempt: 1 }))
    await passWindow(system)
    expect(await revertOf(() => write(system.guardian, 'reject', [poolId, 0n, reason]))).toBe(
      'ChallengeWindowClosed',
    )
    await write(admin(), 'finalize', [poolId, 0n])
    expect(await read('finalizedRoot', [poolId, 0n])).toBe(corrected.root)
  })
})

describe('RevenueOracle administration', () => {
  it('keeps signers, threshold, window and pools to the admin', async () => {
    const outsider = system.signers[0] as Wallet
    const calls: [string, readonly unknown[]][] = [
      ['addSigner', [system.wallet(13).account.address]],
      ['removeSigner', [outsider.account.address]],
      ['setThreshold', [1]],
      ['setChallengeWindow', [1]],
      ['addPool', [poolIdHex('not-yours'), 0n]],
      ['grantRole', [`0x${'0'.repeat(64)}`, outsider.account.address]],
    ]
    for (const [name, args] of calls) {
      expect(await revertOf(() => write(outsider, name, args))).toBe('AccessControlUnauthorizedAccount')
    }
    expect(await revertOf(() => write(admin(), 'setThreshold', [0]))).toBe('InvalidThreshold')
    expect(await revertOf(() => write(admin(), 'setThreshold', [4]))).toBe('InvalidThreshold')
    expect(await revertOf(() => write(admin(), 'addSigner', [outsider.account.address]))).toBe('SignerExists')
    expect(await revertOf(() => write(admin(), 'addSigner', [zeroAddress]))).toBe('ZeroSigner')
    const poolId = await freshPool()
    expect(await revertOf(() => write(admin(), 'addPool', [poolId, 0n]))).toBe('PoolExists')
    expect(await revertOf(() => write(admin(), 'addPool', [`0x${'0'.repeat(64)}`, 0n]))).toBe('ZeroPoolId')
  })

  it('stops counting a removed signer and keeps the threshold reachable', async () => {
    const [s1, s2, s3] = system.signers as [Wallet, Wallet, Wallet]
    const fourth = system.wallet(14)
    await write(admin(), 'addSigner', [fourth.account.address])
    await write(admin(), 'setThreshold', [3])
    await write(admin(), 'removeSigner', [s3.account.address])
    expect(await revertOf(() => write(admin(), 'removeSigner', [fourth.account.address]))).toBe(
      'InvalidThreshold',
    )
    expect(await revertOf(() => write(admin(), 'removeSigner', [s3.account.address]))).toBe('NotSigner')
    const poolId = await freshPool()
    const p = proposal({ poolId, epoch: 0n })
    expect(await revertOf(async () => submit(p, await signProposal(system, [s1, s2, s3], p)))).toBe(
      'NotSigner',
    )
    await submit(p, await signProposal(system, [s1, s2, fourth], p))
    // Back to the 2-of-3 set for the other tests.
    await write(admin(), 'setThreshold', [2])
    await write(admin(), 'addSigner', [s3.account.address])
    await write(admin(), 'removeSigner', [fourth.account.address])
    expect(((await read('config', [])) as { signerCount: number }).signerCount).toBe(3)
  })
})

describe('RevenueOracle.verifyDeviceLeaf', () => {
  const leavesOf = (poolName: string, count: number): DeviceLeaf[] =>
    Array.from({ length: count }, (_, i) => ({
      poolId: poolName,
      epoch: 0,
      deviceId: `dev-${i}-${'é'.repeat(i % 3)}`,
      energyWh: BigInt(1_000 + i),
      revenueUnits: 123_456_789n * BigInt(i + 1),
      readings: 12 + i,
      readingsDigest: `0x${(i + 1).toString(16).padStart(64, '0')}` as Hex,
    }))
  const verifyOnChain = (leaf: DeviceLeaf, proof: readonly Hex[]) =>
    read('verifyDeviceLeaf', [toContractDeviceLeaf(leaf), [...proof]])

  it('accepts every leaf of a finalized tree with its proof and rejects tampered leaves and proofs', async () => {
    poolCounter++
    const poolName = `oracle-test-${poolCounter}`
    const poolId = poolIdHex(poolName)
    await addPool(system, poolId, 0n)
    const tree = buildDeviceTree(leavesOf(poolName, 5))
    const p = proposal({
      poolId,
      epoch: 0n,
      root: tree.root,
      leafCount: tree.leafCount,
      revenueUnits: tree.leaves.reduce((s, l) => s + l.revenueUnits, 0n),
    })
    await submit(p, await signProposal(system, system.signers.slice(0, 2), p))
    const first = tree.leaves[0] as DeviceLeaf
    // Pending is not final: the chain answers for final roots only.
    expect(await revertOf(() => verifyOnChain(first, tree.proof(0)))).toBe('NotFinalized')
    await passWindow(system)
    await write(admin(), 'finalize', [poolId, 0n])

    for (let rank = 0; rank < tree.leafCount; rank++) {
      const leaf = tree.leaves[rank] as DeviceLeaf
      expect(await read('deviceLeafHash', [toContractDeviceLeaf(leaf)])).toBe(deviceLeafHash(leaf))
      expect(await verifyOnChain(leaf, tree.proof(rank)), leaf.deviceId).toBe(true)
    }
    const proof = tree.proof(0)
    const flipped = proof.map((node, i) =>
      i === 0 ? (`${node.slice(0, -1)}${node.endsWith('0') ? '1' : '0'}` as Hex) : node,
    )
    expect(await verifyOnChain(first, flipped)).toBe(false)
    expect(await verifyOnChain(first, proof.slice(0, -1))).toBe(false)
    expect(await verifyOnChain(first, tree.proof(1))).toBe(false)
    for (const tampered of [
      { ...first, energyWh: BigInt(first.energyWh) + 1n },
      { ...first, revenueUnits: first.revenueUnits + 1n },
      { ...first, readings: first.readings + 1 },
      { ...first, readingsDigest: `0x${'ee'.repeat(32)}` as Hex },
      { ...first, deviceId: `${first.deviceId}x` },
    ])
      expect(
        await verifyOnChain(tampered, proof),
        JSON.stringify(tampered, (_k, v) => String(v)),
      ).toBe(false)
    // Another epoch of the same pool was never proposed.
    expect(await revertOf(() => verifyOnChain({ ...first, epoch: 1 }, proof))).toBe('NotFinalized')
  })
})
