/**
 * `npm run pools -- apply` against pools already on-chain, with a file or a configuration the
 * chain cannot take: a replaced investor (a second mint would dilute every holder, attack10b F8)
 * and a clock conflict found after a registry change (the root used to be set before the
 * refusal, F9). Each is refused before any transaction; a refusal only found mid-way lists what
 * was done, and a re-run resumes. The command as a process against an anvil of the test's own.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createWalletClient, http } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceRegistryAbi, identityRegistryAbi, revenueShareTokenAbi } from '../../contracts/abi/index.ts'
import { ROLE } from '../../contracts/deploy/deploy-core.ts'
import { devAccount } from '../../contracts/deploy/dev-accounts.ts'
import { poolIdBytes32 } from '../../core/chain/registry-root.ts'
import { chainFor, createChainClients } from '../../runtime/clients/chain.ts'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import { chainCliEnv, type DedicatedAnvil, startDedicatedAnvil } from './support/dedicated-anvil.ts'

const run = promisify(execFile)
let anvil: DedicatedAnvil
let dir: string
let env: NodeJS.ProcessEnv
// biome-ignore lint/suspicious/noExplicitAny: the fixtures are JSON documents edited freely
type Json = Record<string, any>
const goodPools = (): Json => JSON.parse(readFileSync(join(REPO_ROOT, 'config/pools.json'), 'utf8'))
const registryOf = (chargers: number) =>
  createFleet({
    seed: 'pools-chain-conflicts',
    chargers,
    pv: 2,
    swap: 2,
    startMs: Date.parse('2026-06-01T00:00:00+08:00'),
    sampleMs: 300_000,
  }).registry()

beforeAll(async () => {
  anvil = await startDedicatedAnvil('pools-chain-conflicts')
  dir = mkdtempSync(join(tmpdir(), 'gridroot-pools-chain-conflicts-'))
  writeFileSync(join(dir, 'registry.json'), JSON.stringify(registryOf(3)))
  env = chainCliEnv(anvil, dir)
  await run('node', ['--import', 'tsx', 'contracts/deploy/cli.ts'], { cwd: REPO_ROOT, env, timeout: 120_000 })
  await run('node', ['--import', 'tsx', 'contracts/pools/cli.ts', 'apply'], {
    cwd: REPO_ROOT,
    env,
    timeout: 300_000,
  })
}, 400_000)
afterAll(async () => {
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

async function apply(
  name: string,
  pools: Json,
  registryChargers: number,
  extraEnv: Record<string, string> = {},
): Promise<{ code: number | undefined; out: string }> {
  const poolsPath = join(dir, `${name}.pools.json`)
  writeFileSync(poolsPath, JSON.stringify(pools))
  const registryPath = join(dir, `${name}.registry.json`)
  writeFileSync(registryPath, JSON.stringify(registryOf(registryChargers)))
  const args = [
    '--import',
    'tsx',
    'contracts/pools/cli.ts',
    'apply',
    '--file',
    poolsPath,
    '--registry',
    registryPath,
  ]
  return run('node', args, { cwd: REPO_ROOT, env: { ...env, ...extraEnv }, timeout: 300_000 }).then(
    (r) => ({ code: 0, out: `${r.stdout}${r.stderr}` }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code,
      out: `${e.stdout ?? ''}${e.stderr ?? ''}`,
    }),
  )
}

const lsev = () => loadContractsFile(join(dir, 'contracts.json')).pools['longshine-ev']!.token
const units = (tokens: number) => BigInt(tokens) * 10n ** 18n

describe('npm run pools -- apply against pools on-chain', () => {
  it('refuses to mint to a replaced investor (the supply would exceed the file total), sending nothing', {
    timeout: 300_000,
  }, async () => {
    const { publicClient } = createChainClients(anvil.endpoint)
    const before = await publicClient.getBlockNumber()
    const replaced = goodPools()
    replaced.pools[0].investors[0].account = 'dev:10'
    const outcome = await apply('replaced', replaced, 3)
    expect(outcome.code, outcome.out).toBe(1)
    expect(outcome.out).toContain(
      `[POOL_CONFIG_CONFLICT] pool longshine-ev: minting 600000 LSEV to ${devAccount(10).address} (pools[0] (longshine-ev).investors[0]) would make the supply 1600000 LSEV, more than the 1000000 LSEV the pools file gives its investors`,
    )
    expect(outcome.out).toContain(
      `Minted already and accounted for by no entry: 600000 LSEV to ${devAccount(7).address}`,
    )
    expect(outcome.out).toMatch(/To move a holding to a new address, its holder transfers it \(LSEV transfer/)
    expect(outcome.out).toContain('Nothing was sent: every pool was checked against the chain first.')
    expect(await publicClient.getBlockNumber()).toBe(before)
    const supply = await publicClient.readContract({
      address: lsev(),
      abi: revenueShareTokenAbi,
      functionName: 'totalSupply',
    })
    expect(supply).toBe(units(1_000_000))

    // Adding an investor raises the file's total with it: that is an issuance, and is minted.
    const added = goodPools()
    added.pools[2].investors.push({ account: 'dev:11', tokens: '1000' })
    const issued = await apply('added', added, 3)
    expect(issued.code, issued.out).toBe(0)
    expect(issued.out).toContain(`xunying-swap: minted 1000 XYSW to ${devAccount(11).address}`)
    expect((await apply('added-again', added, 3)).out).toMatch(/nothing to change: 3 pools/)
  })

  it('a changed first epoch is refused naming the file given with --file, not config/pools.json (attack10c F9)', {
    timeout: 300_000,
  }, async () => {
    const moved = goodPools()
    moved.pools[1].firstEpoch = 5
    const outcome = await apply('moved-first-epoch', moved, 3)
    expect(outcome.code, outcome.out).toBe(1)
    expect(outcome.out).toContain('[POOL_CONFIG_CONFLICT] pool gcl-pv starts at epoch 0 on-chain')
    expect(outcome.out).toContain("the pools file says 5; a pool's first epoch cannot change.")
    expect(outcome.out).toMatch(/\[pools\] \S+moved-first-epoch\.pools\.json: stopped after 0 changes/)
    expect(outcome.out).not.toContain('config/pools.json')
  })

  it('checks a clock conflict before it changes a registry root; a refusal found mid-way lists what was done', {
    timeout: 300_000,
  }, async () => {
    const { publicClient } = createChainClients(anvil.endpoint)
    const file = loadContractsFile(join(dir, 'contracts.json'))
    const rootOf = () =>
      publicClient.readContract({
        address: file.contracts.deviceRegistry,
        abi: deviceRegistryAbi,
        functionName: 'registryOf',
        args: [poolIdBytes32('longshine-ev')],
      })
    const rootBefore = await rootOf()
    const before = await publicClient.getBlockNumber()
    const pools = goodPools()
    pools.pools[2].investors.push({ account: 'dev:11', tokens: '1000' })
    const clash = await apply('clock', pools, 4, { GRIDROOT_CHAIN_CLOCK_SPEEDUP: '2' })
    expect(clash.code, clash.out).toBe(1)
    expect(clash.out).toMatch(
      /\[POOL_CONFIG_CONFLICT\] 3 conflicts between the pools file and the chain\n- pool longshine-ev maps its epochs with .* speed-up 1 on-chain, fixed since its chain genesis/,
    )
    expect(clash.out).toContain('Nothing was sent: every pool was checked against the chain first.')
    expect(clash.out).not.toMatch(/\[pools\] longshine-ev: registry root/)
    expect(await publicClient.getBlockNumber()).toBe(before)
    expect(await rootOf()).toEqual(rootBefore)

    // A refusal the chain shows only at the step: the deployer has lost AGENT_ROLE, so verifying
    // a new investor reverts after the registry root has changed.
    const admin = createWalletClient({
      chain: chainFor(anvil.endpoint),
      transport: http(anvil.endpoint.rpcUrl),
      account: devAccount(0),
    })
    const role = async (functionName: 'revokeRole' | 'grantRole') =>
      publicClient.waitForTransactionReceipt({
        hash: await admin.writeContract({
          address: file.contracts.identityRegistry,
          abi: identityRegistryAbi,
          functionName,
          args: [ROLE.agent, devAccount(0).address],
        }),
      })
    await role('revokeRole')
    pools.pools[0].investors.push({ account: 'dev:12', tokens: '1000' })
    const midway = await apply('midway', pools, 4)
    expect(midway.code, midway.out).toBe(1)
    expect(midway.out).toMatch(
      /\[pools\] \S+midway\.pools\.json: stopped after 1 changes; .* run the same command again, it resumes/,
    )
    expect(midway.out).toMatch(
      /already done by this run, and kept on-chain \(a re-run finds them done\):\n {2}longshine-ev: registry root 0x[0-9a-f]{64} over 4 devices \(version 2\)/,
    )
    expect(midway.out).toMatch(
      /CONTRACT_REVERTED\] verify on 0x[0-9a-fA-F]{40} reverted with AccessControlUnauthorizedAccount/,
    )
    await role('grantRole')
    const resumed = await apply('resumed', pools, 4)
    expect(resumed.code, resumed.out).toBe(0)
    expect(resumed.out).toMatch(
      /longshine-ev: already done: registry root 0x[0-9a-f]{64} over 4 devices \(version 2\)/,
    )
    expect(resumed.out).toContain(`longshine-ev: minted 1000 LSEV to ${devAccount(12).address}`)
    expect((await apply('resumed-again', pools, 4)).out).toMatch(/nothing to change: 3 pools/)
  })
})
