/**
 * `npm run pools -- apply` killed with SIGKILL right after its first deployment was mined (before
 * it could see the receipt), then run again: it resumes from the contracts file and the chain,
 * deploys no second token, and leaves every pool as a clean run would. A revert is reported
 * with its custom error and what to do. Against a real anvil, the command as a process.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createTestClient, getAddress, type Hex, http, toHex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { revenueShareTokenAbi } from '../../contracts/abi/index.ts'
import { compileContracts, compiledContract } from '../../contracts/build/compile.ts'
import { devAccount } from '../../contracts/deploy/dev-accounts.ts'
import { chainFor, createChainClients } from '../../runtime/clients/chain.ts'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import { chainCliEnv, type DedicatedAnvil, startDedicatedAnvil } from './support/dedicated-anvil.ts'

const run = promisify(execFile)
let anvil: DedicatedAnvil
let dir: string
let env: NodeJS.ProcessEnv
let child: ChildProcess | undefined
const contractsPath = () => join(dir, 'contracts.json')
const registryOf = (chargers: number) =>
  createFleet({
    seed: 'pools-resume',
    chargers,
    pv: 2,
    swap: 2,
    startMs: Date.parse('2026-06-01T00:00:00+08:00'),
    sampleMs: 300_000,
  }).registry()

beforeAll(async () => {
  anvil = await startDedicatedAnvil('pools-resume')
  dir = mkdtempSync(join(tmpdir(), 'gridroot-pools-resume-'))
  writeFileSync(join(dir, 'registry.json'), JSON.stringify(registryOf(3)))
  env = chainCliEnv(anvil, dir)
})
afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL')
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const cli = async (script: string, extraEnv: NodeJS.ProcessEnv = {}) => {
  const args = script.includes('pools') ? [script, 'apply'] : [script]
  try {
    const { stdout, stderr } = await run('node', ['--import', 'tsx', ...args], {
      cwd: REPO_ROOT,
      env: { ...env, ...extraEnv },
      timeout: 180_000,
    })
    return { code: 0, out: `${stdout}${stderr}` }
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string }
    if (typeof e.code !== 'number') throw error
    return { code: e.code, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

describe('npm run pools -- apply, killed and run again', () => {
  it('resumes after a SIGKILL right after the token deployment: one token, the configured state', {
    timeout: 400_000,
  }, async () => {
    expect((await cli('contracts/deploy/cli.ts')).out).toMatch(/\[deploy\] deployed/)
    const { publicClient } = createChainClients(anvil.endpoint)
    const testClient = createTestClient({
      chain: chainFor(anvil.endpoint),
      transport: http(anvil.endpoint.rpcUrl),
      mode: 'anvil',
    })
    const startBlock = await publicClient.getBlockNumber()

    // Blocks are mined one by one here: the first block that creates a contract (longshine-ev's
    // token, after its registry root and oracle pool) is followed at once by SIGKILL.
    await testClient.setAutomine(false)
    let output = ''
    child = spawn('node', ['--import', 'tsx', 'contracts/pools/cli.ts', 'apply'], { cwd: REPO_ROOT, env })
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString()
    })
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString()
    })
    let created: Hex | undefined
    const deadline = Date.now() + 120_000
    while (created === undefined) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`apply did not deploy: ${output}`)
      const pool = await testClient.getTxpoolContent()
      if (Object.keys(pool.pending).length === 0) {
        await new Promise((r) => setTimeout(r, 100))
        continue
      }
      await testClient.mine({ blocks: 1 })
      const block = await publicClient.getBlock({ includeTransactions: true })
      const creation = block.transactions.find((t) => t.to === null)
      if (creation) {
        child.kill('SIGKILL')
        created = getAddress(
          (await publicClient.getTransactionReceipt({ hash: creation.hash })).contractAddress as Hex,
        )
      }
    }
    await new Promise((r) => child?.once('exit', r))
    await testClient.mine({ blocks: 1 })
    await testClient.setAutomine(true)
    // The deployment was recorded before it was sent.
    const killed = loadContractsFile(contractsPath())
    expect(killed.pools['longshine-ev']).toBeUndefined()
    expect(killed.poolsInProgress?.['longshine-ev']?.token?.address.toLowerCase()).toBe(created.toLowerCase())

    const resumed = await cli('contracts/pools/cli.ts')
    expect(resumed.code, resumed.out).toBe(0)
    expect(resumed.out).toMatch(/longshine-ev: resuming the run that stopped while creating it \(token 0x/)
    expect(resumed.out).toContain(`longshine-ev: resumed: token LSEV at ${created}`)
    expect(resumed.out).toMatch(/longshine-ev: token: ISSUER_ROLE granted to 0x/)
    expect(resumed.out).toMatch(
      /longshine-ev: already done: registry root 0x[0-9a-f]{64} over 3 devices \(version 1\)/,
    )
    expect(resumed.out).toMatch(/longshine-ev: already done: in the oracle, first epoch 0/)
    expect(resumed.out).toMatch(/gcl-pv: token GCLPV deployed at 0x/)

    // One RevenueShareToken per pool was ever created, longshine-ev's the one of the killed run.
    const file = loadContractsFile(contractsPath())
    expect(file.poolsInProgress).toBeUndefined()
    expect(file.pools['longshine-ev']?.token).toBe(created)
    const tokenCode = compiledContract(compileContracts(), 'RevenueShareToken').bytecode
    let tokens = 0
    for (let n = startBlock + 1n; n <= (await publicClient.getBlockNumber()); n++) {
      const block = await publicClient.getBlock({ blockNumber: n, includeTransactions: true })
      tokens += block.transactions.filter((t) => t.to === null && t.input.startsWith(tokenCode)).length
    }
    expect(tokens).toBe(3)
    const supply = await publicClient.readContract({
      address: created,
      abi: revenueShareTokenAbi,
      functionName: 'totalSupply',
    })
    expect(supply).toBe(1_000_000n * 10n ** 18n)
    const balance = await publicClient.readContract({
      address: created,
      abi: revenueShareTokenAbi,
      functionName: 'balanceOf',
      args: [devAccount(7).address],
    })
    expect(balance).toBe(600_000n * 10n ** 18n)

    const again = await cli('contracts/pools/cli.ts')
    expect(again.out).toMatch(/nothing to change: 3 pools/)
    expect(again.out).not.toMatch(/resuming/)
  })

  it('names the custom error a step reverted with, its arguments and what to do, and sends nothing after it', {
    timeout: 200_000,
  }, async () => {
    const { publicClient } = createChainClients(anvil.endpoint)
    writeFileSync(join(dir, 'registry.json'), JSON.stringify(registryOf(4)))
    const before = readFileSync(contractsPath(), 'utf8')
    const outsider = devAccount(9)
    const key = toHex(outsider.getHdKey().privateKey as Uint8Array)
    const blockBefore = await publicClient.getBlockNumber()
    const refused = await cli('contracts/pools/cli.ts', { GRIDROOT_DEPLOYER_KEY: key })
    expect(refused.code).toBe(1)
    expect(refused.out).toMatch(
      new RegExp(
        `\\[CONTRACT_REVERTED\\] setRoot on 0x[0-9a-fA-F]{40} reverted with AccessControlUnauthorizedAccount\\(account=${outsider.address}, neededRole=REGISTRAR_ROLE\\)`,
      ),
    )
    expect(refused.out).toContain(`${outsider.address} lacks REGISTRAR_ROLE on this contract: grant it`)
    expect(refused.out).toMatch(
      /\[pools\] \S+: stopped after 0 changes; .* run the same command again, it resumes/,
    )
    expect(await publicClient.getBlockNumber()).toBe(blockBefore)
    expect(readFileSync(contractsPath(), 'utf8')).toBe(before)
  })
})
