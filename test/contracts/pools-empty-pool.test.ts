/**
 * `npm run pools -- apply` with a pool no device of the registry names: it applies the pool and
 * warns that the pool will earn nothing (empty registry root, empty epoch roots). The command
 * as a process against an anvil of the test's own.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import { chainCliEnv, type DedicatedAnvil, startDedicatedAnvil } from './support/dedicated-anvil.ts'

const run = promisify(execFile)
let anvil: DedicatedAnvil
let dir: string
let env: NodeJS.ProcessEnv

beforeAll(async () => {
  anvil = await startDedicatedAnvil('pools-empty-pool')
  dir = mkdtempSync(join(tmpdir(), 'gridroot-pools-empty-pool-'))
  // Chargers and swap cabinets, no PV plant: config/pools.json's gcl-pv has no devices.
  const registry = createFleet({
    seed: 'pools-empty-pool',
    chargers: 2,
    pv: 0,
    swap: 1,
    startMs: Date.parse('2026-06-01T00:00:00+08:00'),
    sampleMs: 300_000,
  }).registry()
  writeFileSync(join(dir, 'registry.json'), JSON.stringify(registry))
  env = chainCliEnv(anvil, dir)
  await run('node', ['--import', 'tsx', 'contracts/deploy/cli.ts'], { cwd: REPO_ROOT, env, timeout: 120_000 })
})
afterAll(async () => {
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('npm run pools -- apply with a pool that has no devices', () => {
  it('applies it and warns that it will earn nothing', { timeout: 400_000 }, async () => {
    const { stdout, stderr } = await run(
      'node',
      ['--import', 'tsx', 'contracts/pools/cli.ts', 'apply', '--file', 'config/pools.json'],
      { cwd: REPO_ROOT, env, timeout: 300_000 },
    )
    const out = `${stdout}${stderr}`
    expect(out).toContain(
      `[pools] WARNING: pool gcl-pv (config/pools.json pools[1]) has no devices in ${join(dir, 'registry.json')}: it is applied all the same, but it will earn nothing`,
    )
    expect(out).toContain('every epoch the oracle closes for it gets an empty root (no leaves, revenue 0)')
    // Only the pool without devices is warned about, and it was still created.
    expect(out.match(/WARNING: pool /g)).toHaveLength(1)
    expect(out).toMatch(/gcl-pv: registry root 0x0{64} over 0 devices/)
    expect(Object.keys(loadContractsFile(join(dir, 'contracts.json')).pools).sort()).toEqual([
      'gcl-pv',
      'longshine-ev',
      'xunying-swap',
    ])
  })
})
