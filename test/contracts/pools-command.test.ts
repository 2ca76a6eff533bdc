import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  identityRegistryAbi,
  revenueDistributorAbi,
  revenueShareTokenAbi,
} from '../../contracts/abi/index.ts'
import { devAccount } from '../../contracts/deploy/dev-accounts.ts'
import { parseRegistry } from '../../core/identity/registry.ts'
import { createChainClients } from '../../runtime/clients/chain.ts'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import { checkRegistryOnChain, RegistryRootMismatchError } from '../../runtime/registry-onchain.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import { chainCliEnv, type DedicatedAnvil, startDedicatedAnvil } from './support/dedicated-anvil.ts'

const run = promisify(execFile)
let anvil: DedicatedAnvil
let dir: string
let env: NodeJS.ProcessEnv
const fleetRegistry = (chargers: number) =>
  createFleet({
    seed: 'pools-test',
    chargers,
    pv: 2,
    swap: 2,
    startMs: Date.parse('2026-06-01T00:00:00+08:00'),
    sampleMs: 300_000,
  }).registry()

beforeAll(async () => {
  anvil = await startDedicatedAnvil('pools-test')
  dir = mkdtempSync(join(tmpdir(), 'gridroot-pools-'))
  writeFileSync(join(dir, 'registry.json'), JSON.stringify(fleetRegistry(3)))
  env = chainCliEnv(anvil, dir)
})
afterAll(async () => {
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const npm = async (...args: string[]) =>
  (await run('node', ['--import', 'tsx', ...args], { cwd: REPO_ROOT, env, timeout: 120_000 })).stdout

describe('npm run deploy and npm run pools -- apply', () => {
  it('deploys once, creates the configured pools once, and a second run changes nothing', {
    timeout: 400_000,
  }, async () => {
    expect(await npm('contracts/deploy/cli.ts')).toMatch(/\[deploy\] deployed/)
    expect(await npm('contracts/deploy/cli.ts')).toMatch(/nothing to do/)
    const first = await npm('contracts/pools/cli.ts', 'apply', '--file', 'config/pools.json')
    expect(first).toMatch(/longshine-ev: registry root 0x[0-9a-f]{64} over 3 devices/)
    expect(first).toMatch(/xunying-swap: distributor deployed/)
    const second = await npm('contracts/pools/cli.ts', 'apply', '--file', 'config/pools.json')
    expect(second).toMatch(/nothing to change: 3 pools/)
    // Each pool's epoch clock is on its distributor; a past chain genesis fixed it at creation.
    const otherClock = await run(
      'node',
      ['--import', 'tsx', 'contracts/pools/cli.ts', 'apply', '--file', 'config/pools.json'],
      { cwd: REPO_ROOT, env: { ...env, GRIDROOT_CHAIN_CLOCK_SPEEDUP: '2' }, timeout: 120_000 },
    ).catch((e: { stderr?: string }) => e)
    expect((otherClock as { stderr?: string }).stderr).toMatch(
      /longshine-ev maps its epochs with .* speed-up 1 on-chain, fixed since its chain genesis/,
    )

    const file = loadContractsFile(join(dir, 'contracts.json'))
    const { publicClient } = createChainClients(anvil.endpoint)
    const pool = file.pools['longshine-ev']
    expect(pool).toBeDefined()
    const balance = await publicClient.readContract({
      address: pool!.token,
      abi: revenueShareTokenAbi,
      functionName: 'balanceOf',
      args: [devAccount(7).address],
    })
    expect(balance).toBe(600_000n * 10n ** 18n)
    const terms = await publicClient.readContract({
      address: pool!.distributor,
      abi: revenueDistributorAbi,
      functionName: 'terms',
    })
    expect(terms.holdersBps).toBe(7000)
    // Every distributor is a registry hook and flags each of its investors, also those verified
    // for an earlier pool before it existed (dev:7 is in longshine-ev and gcl-pv).
    expect(first).toMatch(/gcl-pv: flagged as verified in the distributor: 0x/)
    for (const [poolId, accounts] of [
      ['longshine-ev', [7, 8, 9]],
      ['gcl-pv', [7, 8]],
      ['xunying-swap', [8, 9]],
    ] as const) {
      const distributor = file.pools[poolId]!.distributor
      const hooked = await publicClient.readContract({
        address: file.contracts.identityRegistry,
        abi: identityRegistryAbi,
        functionName: 'isHook',
        args: [distributor],
      })
      expect(hooked).toBe(true)
      for (const i of accounts) {
        const flagged = await publicClient.readContract({
          address: distributor,
          abi: revenueDistributorAbi,
          functionName: 'verifiedHere',
          args: [devAccount(i).address],
        })
        expect(flagged, `${poolId} dev:${i}`).toBe(true)
      }
    }

    // The services' start-up check: the same file matches; a changed one names its pool.
    const registry = parseRegistry(fleetRegistry(3))
    const commitments = await checkRegistryOnChain({
      publicClient,
      deviceRegistry: file.contracts.deviceRegistry,
      registry,
      registryFile: 'registry.json',
    })
    expect(commitments.map((c) => c.poolId).sort()).toEqual(['gcl-pv', 'longshine-ev', 'xunying-swap'])
    const changed = parseRegistry(fleetRegistry(4))
    const error = await checkRegistryOnChain({
      publicClient,
      deviceRegistry: file.contracts.deviceRegistry,
      registry: changed,
      registryFile: 'registry.json',
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RegistryRootMismatchError)
    expect((error as RegistryRootMismatchError).mismatches.map((m) => m.poolId)).toEqual(['longshine-ev'])
    expect((error as Error).message).toMatch(/longshine-ev: file root 0x[0-9a-f]{64} \(4 devices\)/)

    // The operator commits the new registry; the check passes again.
    writeFileSync(join(dir, 'registry.json'), JSON.stringify(fleetRegistry(4)))
    expect(await npm('contracts/pools/cli.ts', 'apply')).toMatch(
      /longshine-ev: registry root .* over 4 devices \(version 2\)/,
    )
    await checkRegistryOnChain({
      publicClient,
      deviceRegistry: file.contracts.deviceRegistry,
      registry: changed,
      registryFile: 'registry.json',
    })
  })
})
