/**
 * `npm run pools -- apply` with a malformed pools file or a registry that does not fit it: the
 * command refuses before it sends anything, naming the file, the entry and the field. The
 * command as a process against a real anvil (the block number shows nothing was sent).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createChainClients } from '../../runtime/clients/chain.ts'
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
const goodRegistry = (): Json =>
  createFleet({
    seed: 'pools-file-errors',
    chargers: 3,
    pv: 2,
    swap: 2,
    startMs: Date.parse('2026-06-01T00:00:00+08:00'),
    sampleMs: 300_000,
  }).registry() as unknown as Json

beforeAll(async () => {
  anvil = await startDedicatedAnvil('pools-file-errors')
  dir = mkdtempSync(join(tmpdir(), 'gridroot-pools-file-errors-'))
  writeFileSync(join(dir, 'registry.json'), JSON.stringify(goodRegistry()))
  env = chainCliEnv(anvil, dir)
  await run('node', ['--import', 'tsx', 'contracts/deploy/cli.ts'], { cwd: REPO_ROOT, env, timeout: 120_000 })
})
afterAll(async () => {
  await anvil?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** Runs apply on `pools` (and `registry`), expects a refusal, and returns its output. */
async function refused(name: string, pools: Json | string, registry?: Json): Promise<string> {
  const poolsPath = join(dir, `${name}.pools.json`)
  writeFileSync(poolsPath, typeof pools === 'string' ? pools : JSON.stringify(pools))
  const registryPath = join(dir, `${name}.registry.json`)
  writeFileSync(registryPath, JSON.stringify(registry ?? goodRegistry()))
  const { publicClient } = createChainClients(anvil.endpoint)
  const before = await publicClient.getBlockNumber()
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
  const outcome = await run('node', args, { cwd: REPO_ROOT, env, timeout: 120_000 }).then(
    (r) => ({ code: 0, out: `${r.stdout}${r.stderr}` }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code,
      out: `${e.stdout ?? ''}${e.stderr ?? ''}`,
    }),
  )
  expect(outcome.code, outcome.out).toBe(1)
  expect(await publicClient.getBlockNumber(), `${name} sent a transaction`).toBe(before)
  expect(outcome.out).not.toMatch(/\[pools\] .*: (registry root|added|token|minted)/)
  return outcome.out
}

describe('npm run pools -- apply refuses a bad pools file before sending anything', () => {
  it('names the file, the pool and the field of each problem in the pools file', {
    timeout: 300_000,
  }, async () => {
    const missing = goodPools()
    delete missing.pools[1].terms.holdersBps
    missing.pools[0].investors[1].tokens = '-5'
    missing.pools[0].investors[2].tokens = 1.5
    missing.pools[2].investors[0].tokens = '2.5'
    missing.pools[2].assetClass = 'wind'
    const out = await refused('fields', missing)
    expect(out).toContain(
      `the pools file ${join(dir, 'fields.pools.json')} is invalid (5 problems); nothing was sent`,
    )
    expect(out).toMatch(/pools\[1\] \(gcl-pv\)\.terms\.holdersBps: /)
    expect(out).toMatch(
      /pools\[0\] \(longshine-ev\)\.investors\[1\]\.tokens: must be a whole, non-negative number of tokens in a string/,
    )
    expect(out).toMatch(
      /pools\[0\] \(longshine-ev\)\.investors\[2\]\.tokens: must be a string .*\(not a JSON number\)/,
    )
    expect(out).toMatch(/pools\[2\] \(xunying-swap\)\.investors\[0\]\.tokens: must be a whole/)
    expect(out).toMatch(/pools\[2\] \(xunying-swap\)\.assetClass: /)

    const twice = goodPools()
    twice.pools[1].poolId = 'longshine-ev'
    twice.pools[0].investors.push({ account: 'dev:7', tokens: '1' })
    twice.pools[2].investors[0].tokens = `1${'0'.repeat(60)}`
    const entries = await refused('entries', twice)
    expect(entries).toContain("pools[1] (longshine-ev).poolId: longshine-ev is also pools[0]'s id")
    expect(entries).toContain(
      'pools[0] (longshine-ev).investors[3].account: dev:7 is also investors[0]; give each investor one entry with the sum',
    )
    expect(entries).toMatch(
      /pools\[2\] \(xunying-swap\)\.investors: \d+ tokens in all, more than a RevenueShareToken can hold/,
    )

    // A mixed-case address is EIP-55 checksummed: a wrong checksum is a mistyped digit (F8);
    // all lower case carries no checksum and is taken.
    const checksum = goodPools()
    checksum.pools[0].investors[0].account = '0x70997970c51812dc3a010c7d01b50e0d17dc79C8'
    checksum.pools[1].investors[0].account = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'
    const badChecksum = await refused('checksum', checksum)
    expect(badChecksum).toContain('is invalid (1 problem); nothing was sent')
    expect(badChecksum).toContain(
      'pools[0] (longshine-ev).investors[0].account: 0x70997970c51812dc3a010c7d01b50e0d17dc79C8 has a wrong EIP-55 checksum (a mistyped hex digit?): check it against its source; if the digits are right, its checksummed form is 0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    )

    const huge = await refused('huge', `{"version":1,"pools":[],"pad":"${'x'.repeat(2 * 1024 * 1024)}"}`)
    expect(huge).toMatch(
      /the pools file .*huge\.pools\.json is \d+ bytes, more than the 1048576 bytes a pools file may have/,
    )
    expect(await refused('not-json', '{"version":1,"pools":[')).toMatch(
      /the pools file .*not-json\.pools\.json is not JSON: /,
    )
  })

  it('names the device and both files when the registry does not fit the pools', {
    timeout: 200_000,
  }, async () => {
    const twoPools = goodRegistry()
    twoPools.devices.push({ ...twoPools.devices[0], poolId: 'gcl-pv' })
    expect(await refused('two-pools', goodPools(), twoPools)).toMatch(
      /two-pools\.registry\.json: the device registry is invalid: deviceId \S+ is in two pools, longshine-ev and gcl-pv: a device belongs to one pool/,
    )
    const duplicate = goodRegistry()
    duplicate.devices.push({ ...duplicate.devices[0] })
    expect(await refused('duplicate', goodPools(), duplicate)).toMatch(
      /duplicate\.registry\.json: the device registry is invalid: deviceId \S+ appears twice \(pool longshine-ev\)/,
    )
    // A typo'd poolId: the device would silently leave its pool on-chain (attack10b F6).
    const typo = goodRegistry()
    const moved = typo.devices[0]
    typo.devices[0] = { ...moved, poolId: 'no-such-pool' }
    const unknownPool = await refused('unknown-pool', goodPools(), typo)
    expect(unknownPool).toContain(
      `the device registry ${join(dir, 'unknown-pool.registry.json')} does not fit the pools file ${join(dir, 'unknown-pool.pools.json')} (1 problem); nothing was sent`,
    )
    expect(unknownPool).toContain(
      `device ${moved.deviceId} (${join(dir, 'unknown-pool.registry.json')}) names pool no-such-pool, which ${join(dir, 'unknown-pool.pools.json')} does not have (its pools: longshine-ev, gcl-pv, xunying-swap): correct the poolId in the registry, or add pool no-such-pool to the pools file`,
    )
    const wrongClass = goodRegistry()
    const charger = wrongClass.devices[0]
    wrongClass.devices[0] = { ...charger, poolId: 'gcl-pv' }
    const mismatch = await refused('class', goodPools(), wrongClass)
    expect(mismatch).toContain(
      `device ${charger.deviceId} (${join(dir, 'class.registry.json')}) is a charger, but its pool gcl-pv (${join(dir, 'class.pools.json')} pools[1].assetClass) is pv`,
    )
  })
})
