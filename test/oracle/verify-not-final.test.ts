/**
 * `npm run verify` on an epoch that is not final: the command, as a process against a real anvil,
 * says the epoch's on-chain state and what to do (services/oracle/domain/not-final.ts).
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { writeContractsFile } from '../../runtime/contracts-file.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import {
  chainCliEnv,
  type DedicatedAnvil,
  startDedicatedAnvil,
} from '../contracts/support/dedicated-anvil.ts'
import { addPool, passWindow, proposal, propose, signProposal } from '../contracts/support/oracle.ts'
import { contractsFileOf, deploySystem, exec, poolIdHex, type System } from '../contracts/support/system.ts'

const run = promisify(execFile)
const WINDOW_SEC = 3_600
let anvil: DedicatedAnvil
let system: System
let dir: string
let env: NodeJS.ProcessEnv
let deviceId: string
let devicePoolId: string
const TEST_POOLS = ['verify-pending', 'verify-rejected', 'verify-artifacts'] as const
const deviceIn = (poolId: string) => `dev-${poolId}`

beforeAll(async () => {
  anvil = await startDedicatedAnvil('verify-not-final')
  system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: WINDOW_SEC })
  dir = mkdtempSync(join(tmpdir(), 'gridroot-verify-not-final-'))
  const registry = createFleet({
    seed: 'verify-not-final',
    chargers: 1,
    pv: 0,
    swap: 0,
    startMs: Date.parse('2026-06-01T00:00:00+08:00'),
    sampleMs: 300_000,
  }).registry()
  deviceId = registry.devices[0]?.deviceId as string
  devicePoolId = registry.devices[0]?.poolId as string
  // The same device once per test pool, under a name of its own (verify checks a device only in
  // its own pool).
  const template = registry.devices[0] as (typeof registry.devices)[number]
  const devices = [
    template,
    ...TEST_POOLS.map((poolId) => ({ ...template, deviceId: deviceIn(poolId), poolId })),
  ]
  writeFileSync(join(dir, 'registry.json'), JSON.stringify({ ...registry, devices }))
  writeContractsFile(
    join(dir, 'contracts.json'),
    contractsFileOf(system, [], { threshold: 2, challengeWindowSec: WINDOW_SEC }),
  )
  env = chainCliEnv(anvil, dir, { GRIDROOT_ARTIFACT_DIR: join(dir, 'artifacts') })
})
afterAll(async () => {
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** The command's output and exit status (it exits 1 on an epoch it cannot check). */
async function verify(
  pool: string,
  epoch: number,
  device = deviceIn(pool),
): Promise<{ code: number; stdout: string }> {
  return verifyArgs(['--pool', pool, '--device', device, '--epoch', String(epoch)])
}

/** The command with these arguments: its stdout and stderr, and its exit status. */
async function verifyArgs(argv: readonly string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run('node', ['--import', 'tsx', 'services/oracle/verify-cli.ts', ...argv], {
      cwd: REPO_ROOT,
      env,
      timeout: 60_000,
    })
    return { code: 0, stdout }
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string }
    if (typeof e.code !== 'number') throw error
    return { code: e.code, stdout: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

/** A new pool whose epoch 0 is proposed by two signers and finalized after the window. */
async function poolWithFinalEpoch0(pool: string) {
  await addPool(system, poolIdHex(pool))
  const p0 = proposal({ poolId: poolIdHex(pool), epoch: 0n })
  await propose(system, p0, await signProposal(system, system.signers.slice(0, 2), p0))
  await passWindow(system, WINDOW_SEC + 1)
  await exec(system, system.deployer.walletClient, {
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'finalize',
    args: [poolIdHex(pool), 0n],
  })
  return p0
}

describe('verify on an epoch that is not final', () => {
  it('says pending until when, not proposed, rejected, and which epoch is the latest final', {
    timeout: 240_000,
  }, async () => {
    const pool = 'verify-pending'
    await poolWithFinalEpoch0(pool)
    const p1 = proposal({ poolId: poolIdHex(pool), epoch: 1n })
    const { blockNumber } = await propose(
      system,
      p1,
      await signProposal(system, system.signers.slice(0, 2), p1),
    )
    const block = await system.publicClient.getBlock({ blockNumber })
    const endsAt = new Date(Number(block.timestamp + BigInt(WINDOW_SEC)) * 1000).toISOString()

    const pending = await verify(pool, 1)
    expect(pending.code).toBe(1)
    expect(pending.stdout).toContain(
      `verify-pending/${deviceIn('verify-pending')}/1: not final: verify-pending epoch 1 is pending (attempt 0): proposed, in its challenge window until ${endsAt}`,
    )
    expect(pending.stdout).toMatch(new RegExp(`Wait until ${endsAt} \\(\\d+ s from now\\)`))
    expect(pending.stdout).toContain(
      'the latest final epoch of verify-pending is 0: verify that one with --epoch 0',
    )

    const ahead = await verify(pool, 4)
    expect(ahead.stdout).toContain(
      "verify-pending epoch 4 is not proposed yet: the pool's next epoch to propose is 1",
    )
    expect(ahead.stdout).toContain('--epoch 0')

    const rejectedPool = 'verify-rejected'
    await addPool(system, poolIdHex(rejectedPool))
    const r0 = proposal({ poolId: poolIdHex(rejectedPool), epoch: 0n })
    await propose(system, r0, await signProposal(system, system.signers.slice(0, 2), r0))
    await exec(system, system.guardian, {
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'reject',
      args: [poolIdHex(rejectedPool), 0n, `0x${'00'.repeat(32)}`],
    })
    const rejected = await verify(rejectedPool, 0)
    expect(rejected.stdout).toContain(
      'verify-rejected epoch 0 was rejected by the guardian (attempt 0); no root is pending',
    )
    expect(rejected.stdout).toContain('corrected root (attempt 1)')
    expect(rejected.stdout).toContain('no epoch of verify-rejected is final yet')

    await passWindow(system, WINDOW_SEC + 1)
    const due = await verify(pool, 1)
    expect(due.stdout).toContain(`its challenge window ended at ${endsAt}`)
    expect(due.stdout).toContain('sends finalize on its next tick')
  })
})

describe('verify on a final epoch whose artifacts are missing or altered (attack10 F1)', () => {
  it('names the artifact, its hash and path, and says what to do', { timeout: 120_000 }, async () => {
    const pool = 'verify-artifacts'
    const p0 = await poolWithFinalEpoch0(pool)
    const missing = await verify(pool, 0)
    expect(missing.code).toBe(1)
    expect(missing.stdout).toContain(
      `${pool}/${deviceIn(pool)}/0: artifact-missing: no file for ${p0.treeHash}`,
    )
    expect(missing.stdout).toContain('GRIDROOT_ARTIFACT_DIR')
    // A file under the tree's hash whose bytes hash to something else.
    const hex = p0.treeHash.slice(2)
    const folder = join(dir, 'artifacts', hex.slice(0, 2))
    mkdirSync(folder, { recursive: true })
    writeFileSync(join(folder, hex), '{"format":"standard-v1","tree":[],"values":[]}')
    const corrupt = await verify(pool, 0)
    expect(corrupt.code).toBe(1)
    expect(corrupt.stdout).toContain(`${pool}/${deviceIn(pool)}/0: artifact-corrupt: `)
    expect(corrupt.stdout).toContain(join(folder, hex))
    expect(corrupt.stdout).toContain('hashes to 0x')
    expect(corrupt.stdout).toContain('restore it')
  })
})

describe('verify on a device of another pool (attack F5)', () => {
  it('is UNKNOWN_AUDIT_DEVICE naming the pool the device is in', { timeout: 120_000 }, async () => {
    const other = await verify('verify-other-pool', 0, deviceId)
    expect(other.code).toBe(1)
    expect(other.stdout).toContain(
      `verify-other-pool/${deviceId}/0: UNKNOWN_AUDIT_DEVICE: device ${deviceId} belongs to pool ${devicePoolId}, not verify-other-pool`,
    )
    expect(other.stdout).toContain(`verify it with --pool ${devicePoolId}`)
  })
})

describe('verify with a chain node that does not answer (attack12d F2)', () => {
  it('exits 3 "not checked", never 1 (does not verify)', { timeout: 120_000 }, async () => {
    const saved = env
    // Nobody listens on the discard port: every read is refused, as by a node that is down.
    env = { ...saved, GRIDROOT_RPC_URL: 'http://127.0.0.1:9' }
    try {
      const down = await verify(devicePoolId, 0, deviceId)
      expect(down.code).toBe(3)
      expect(down.stdout).toContain('not checked: the chain node did not answer')
    } finally {
      env = saved
    }
  })
})

describe('verify with a malformed option (attack10a F4, attack10b F11)', () => {
  it('is a usage error, exit 2, naming the option, with no stack trace', { timeout: 120_000 }, async () => {
    const args = ['--pool', devicePoolId, '--device', deviceId]
    for (const epoch of ['abc', '1.5', '-1', '0x10', '99999999999999999999']) {
      const bad = await verifyArgs([...args, `--epoch=${epoch}`])
      expect(bad.code, epoch).toBe(2)
      expect(bad.stdout, epoch).toContain('--epoch must be a non-negative decimal integer')
      expect(bad.stdout, epoch).not.toMatch(/\n\s+at /)
    }
    const dash = await verifyArgs([...args, '--epoch', '-1'])
    expect(dash.code).toBe(2)
    expect(dash.stdout).toContain("Option '--epoch' argument is ambiguous")
    const pool = await verifyArgs(['--pool', 'Not A Pool', '--device', deviceId, '--epoch', '0'])
    expect(pool.code).toBe(2)
    expect(pool.stdout).toContain('--pool must be a pool id')
  })
})
