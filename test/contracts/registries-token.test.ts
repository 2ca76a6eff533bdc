import { parseEventLogs } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRegistryAbi, identityRegistryAbi, revenueShareTokenAbi } from '../../contracts/abi/index.ts'
import { ROLE } from '../../contracts/deploy/deploy-core.ts'
import { deployPoolToken } from '../../contracts/deploy/deploy-pool-contracts.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from './support/dedicated-anvil.ts'
import { revertOf } from './support/revert.ts'
import { deploySystem, exec, poolIdHex, type System, type Wallet } from './support/system.ts'

let anvil: DedicatedAnvil
let system: System

beforeAll(async () => {
  anvil = await startDedicatedAnvil('registries-test')
  system = await deploySystem(anvil.endpoint)
})
afterAll(async () => {
  await anvil?.stop()
})

const admin = () => system.deployer.walletClient
const ZERO = `0x${'0'.repeat(64)}` as const

describe('DeviceRegistry', () => {
  const setRoot = (wallet: Wallet, args: readonly unknown[]) =>
    exec(system, wallet, {
      address: system.contracts.deviceRegistry,
      abi: deviceRegistryAbi,
      functionName: 'setRoot',
      args,
    })
  const registryOf = (poolId: `0x${string}`) =>
    system.publicClient.readContract({
      address: system.contracts.deviceRegistry,
      abi: deviceRegistryAbi,
      functionName: 'registryOf',
      args: [poolId],
    })

  it('versions each new root of a pool and refuses what is not a change', async () => {
    const poolId = poolIdHex('registry-a')
    const root = `0x${'12'.repeat(32)}` as const
    await setRoot(admin(), [poolId, root, 3])
    expect(await registryOf(poolId)).toMatchObject({ root, version: 1n, deviceCount: 3 })
    expect(await revertOf(() => setRoot(admin(), [poolId, root, 3]))).toBe('RegistryUnchanged')
    const { receipt } = await setRoot(admin(), [poolId, `0x${'34'.repeat(32)}`, 4])
    const [event] = parseEventLogs({
      abi: deviceRegistryAbi,
      logs: receipt.logs,
      eventName: 'RegistryRootSet',
    })
    expect(event?.args.version).toBe(2n)
    await setRoot(admin(), [poolId, ZERO, 0])
    expect(await registryOf(poolId)).toMatchObject({ root: ZERO, version: 3n, deviceCount: 0 })
  })

  it('refuses the zero pool, mismatched empty registries and callers without the registrar role', async () => {
    const poolId = poolIdHex('registry-b')
    expect(await revertOf(() => setRoot(admin(), [ZERO, `0x${'12'.repeat(32)}`, 1]))).toBe('ZeroPoolId')
    expect(await revertOf(() => setRoot(admin(), [poolId, ZERO, 1]))).toBe('EmptyRegistryMismatch')
    expect(await revertOf(() => setRoot(admin(), [poolId, `0x${'12'.repeat(32)}`, 0]))).toBe(
      'EmptyRegistryMismatch',
    )
    expect(await revertOf(() => setRoot(system.guardian, [poolId, `0x${'12'.repeat(32)}`, 1]))).toBe(
      'AccessControlUnauthorizedAccount',
    )
  })
})

describe('IdentityRegistry', () => {
  const call = (wallet: Wallet, functionName: 'verify' | 'unverify', accounts: readonly `0x${string}`[]) =>
    exec(system, wallet, {
      address: system.contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName,
      args: [accounts],
    })
  const identityOf = (account: `0x${string}`) =>
    system.publicClient.readContract({
      address: system.contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'identityOf',
      args: [account],
    })

  it('keeps an account its index when it is unverified and verified again; repeats change nothing', async () => {
    const a = system.wallet(17).account.address
    const b = system.wallet(18).account.address
    await call(admin(), 'verify', [a, b])
    const [, indexA] = await identityOf(a)
    const [, indexB] = await identityOf(b)
    expect(indexB).toBe(indexA + 1n)
    const repeat = await call(admin(), 'verify', [a])
    expect(repeat.receipt.logs.length).toBe(0)
    await call(admin(), 'unverify', [a])
    expect(await identityOf(a)).toEqual([false, indexA])
    expect((await call(admin(), 'unverify', [a])).receipt.logs.length).toBe(0)
    await call(admin(), 'verify', [a])
    expect(await identityOf(a)).toEqual([true, indexA])
  })

  it('refuses the zero address and callers without the agent role', async () => {
    expect(
      await revertOf(() => call(admin(), 'verify', ['0x0000000000000000000000000000000000000000'])),
    ).toBe('ZeroAccount')
    expect(await revertOf(() => call(system.guardian, 'verify', [system.guardian.account.address]))).toBe(
      'AccessControlUnauthorizedAccount',
    )
    expect(await revertOf(() => call(system.guardian, 'unverify', [system.guardian.account.address]))).toBe(
      'AccessControlUnauthorizedAccount',
    )
  })
})

describe('RevenueShareToken', () => {
  it('mints and transfers only to verified holders and reads balances at past times', async () => {
    const [alice, bob, carol] = system.investors as [Wallet, Wallet, Wallet]
    await exec(system, admin(), {
      address: system.contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'verify',
      args: [[alice.account.address, bob.account.address]],
    })
    const { address: token } = await deployPoolToken(system.deployer, system.compiled, {
      poolIdBytes32: poolIdHex('token-pool'),
      name: 'Token pool share',
      symbol: 'TPS',
      identityRegistry: system.contracts.identityRegistry,
      issuer: admin().account.address,
    })
    const write = (wallet: Wallet, functionName: string, args: readonly unknown[]) =>
      exec(system, wallet, { address: token, abi: revenueShareTokenAbi, functionName, args })
    const read = (functionName: string, args: readonly unknown[]) =>
      system.publicClient.readContract({
        address: token,
        abi: revenueShareTokenAbi,
        functionName,
        args,
      } as never)

    expect(await revertOf(() => write(admin(), 'mint', [carol.account.address, 1n]))).toBe(
      'HolderNotVerified',
    )
    expect(await revertOf(() => write(alice, 'mint', [alice.account.address, 1n]))).toBe(
      'AccessControlUnauthorizedAccount',
    )
    await write(admin(), 'mint', [alice.account.address, 1_000n])
    await system.testClient.increaseTime({ seconds: 100 })
    await system.testClient.mine({ blocks: 1 })
    const afterMint = (await system.publicClient.getBlock()).timestamp - 50n
    await write(alice, 'transfer', [bob.account.address, 400n])
    expect(await revertOf(() => write(alice, 'transfer', [carol.account.address, 1n]))).toBe(
      'HolderNotVerified',
    )
    await system.testClient.increaseTime({ seconds: 100 })
    await system.testClient.mine({ blocks: 1 })
    // Unverified later: bob can neither send nor receive.
    await exec(system, admin(), {
      address: system.contracts.identityRegistry,
      abi: identityRegistryAbi,
      functionName: 'unverify',
      args: [[bob.account.address]],
    })
    expect(await revertOf(() => write(bob, 'transfer', [alice.account.address, 1n]))).toBe(
      'HolderNotVerified',
    )
    expect(await revertOf(() => write(alice, 'transfer', [bob.account.address, 1n]))).toBe(
      'HolderNotVerified',
    )
    await system.testClient.mine({ blocks: 1 })
    const now = (await system.publicClient.getBlock()).timestamp

    expect(await read('balanceOfAt', [alice.account.address, afterMint])).toBe(1_000n)
    expect(await read('balanceOfAt', [bob.account.address, afterMint])).toBe(0n)
    expect(await read('balanceOfAt', [alice.account.address, now - 1n])).toBe(600n)
    expect(await read('balanceOfAt', [bob.account.address, now - 1n])).toBe(400n)
    expect(await read('totalSupplyAt', [afterMint])).toBe(1_000n)
    expect(await read('CLOCK_MODE', [])).toBe('mode=timestamp')
    expect(await revertOf(() => read('balanceOfAt', [alice.account.address, now + 10n]))).toBe('FutureLookup')
    expect(await read('hasRole', [ROLE.issuer, admin().account.address])).toBe(true)
  })
})
