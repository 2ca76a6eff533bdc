/**
 * Ingest refuses to start when its registry file does not hash to the on-chain registry root of
 * every pool it serves (and says which), and starts once the roots are committed; a root changed
 * on-chain under the running ingest turns its /healthz 503 naming the pool and both roots, with
 * an error log, until the root matches again (attack10b F7). Real anvil
 * (a dedicated one: this test deploys its own registry) and the real ingest process.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { deviceRegistryAbi } from '../../contracts/abi/index.ts'
import { poolIdBytes32, registryCommitment } from '../../core/chain/registry-root.ts'
import { parseRegistry } from '../../core/identity/registry.ts'
import { writeContractsFile } from '../../runtime/contracts-file.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { deploySystem, exec, type System } from '../contracts/support/system.ts'
import { startServiceProcess } from '../support/service-process.ts'

describe('ingest and the on-chain registry', () => {
  let anvil: DedicatedAnvil
  let system: System
  let dir: string
  let env: Record<string, string>
  const fleet = createFleet({
    seed: 'registry-onchain',
    chargers: 2,
    pv: 2,
    swap: 2,
    startMs: 0,
    sampleMs: 300_000,
  })
  const registry = parseRegistry(fleet.registry())
  const pools = [...new Set([...registry.devices()].map((d) => d.poolId))].sort()

  beforeAll(async () => {
    anvil = await startDedicatedAnvil('registry-onchain')
    system = await deploySystem(anvil.endpoint)
    dir = mkdtempSync(join(tmpdir(), 'gridroot-registry-onchain-'))
    writeFileSync(join(dir, 'registry.json'), JSON.stringify(fleet.registry()))
    writeContractsFile(join(dir, 'contracts.json'), {
      version: 1,
      chainId: anvil.endpoint.chainId,
      deployer: system.deployer.walletClient.account.address,
      deployedAtBlock: '0',
      compilerInputHash: system.compiled.inputHash,
      contracts: {
        deviceRegistry: system.contracts.deviceRegistry,
        revenueOracle: system.contracts.revenueOracle,
        identityRegistry: system.contracts.identityRegistry,
      },
      oracle: {
        signers: system.signers.map((s) => s.account.address),
        threshold: 2,
        challengeWindowSec: 60,
        guardian: system.guardian.account.address,
      },
      pools: {},
    })
    env = {
      ...endpointsToEnv({ ...inject('endpoints'), chain: anvil.endpoint }),
      GRIDROOT_REGISTRY_FILE: join(dir, 'registry.json'),
      GRIDROOT_CONTRACTS_FILE: join(dir, 'contracts.json'),
      GRIDROOT_KAFKA_TOPIC_PREFIX: 'registry-onchain.',
      GRIDROOT_INGEST_SHARED_GROUP: `registry-onchain-${process.pid}`,
      GRIDROOT_INGEST_MQTT_CONNECTIONS: '2',
      GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '0',
    }
  })

  afterAll(async () => {
    await anvil?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const setRoot = async (poolId: string, root: `0x${string}`, deviceCount: number) =>
    exec(system, system.deployer.walletClient, {
      address: system.contracts.deviceRegistry,
      abi: deviceRegistryAbi,
      functionName: 'setRoot',
      args: [poolIdBytes32(poolId), root, deviceCount],
    })

  it('refuses to start with a registry the chain does not commit, naming the pool', async () => {
    // Two pools committed as in the file, the third with another root.
    for (const poolId of pools.slice(0, 2)) {
      const c = registryCommitment(registry.devices(), poolId)
      await setRoot(poolId, c.root, c.deviceCount)
    }
    const odd = pools[2]!
    await setRoot(odd, `0x${'12'.repeat(32)}`, 2)
    const ingest = await startServiceProcess('services/ingest/main.ts', env, 'GRIDROOT_INGEST_METRICS_PORT')
    const code = await new Promise<number | null>((resolve) => ingest.child.once('exit', (c) => resolve(c)))
    expect(code).toBe(1)
    expect(ingest.output()).toContain('REGISTRY_ROOT_MISMATCH')
    expect(ingest.output()).toContain(`pool ${odd}`)
    for (const poolId of pools.slice(0, 2)) expect(ingest.output()).not.toContain(`pool ${poolId}`)
  })

  it('starts once every pool root matches the file, and says so when a root changes under it', {
    timeout: 300_000,
  }, async () => {
    const odd = pools[2]!
    const c = registryCommitment(registry.devices(), odd)
    await setRoot(odd, c.root, c.deviceCount)
    const ingest = await startServiceProcess('services/ingest/main.ts', env, 'GRIDROOT_INGEST_METRICS_PORT')
    const healthUntil = async (status: number) => {
      const deadline = Date.now() + 40_000
      let last = ''
      while (Date.now() < deadline) {
        const res = await fetch(`http://127.0.0.1:${ingest.metricsPort}/healthz`)
        const body = (await res.json()) as { reasons: { code: string; detail: string }[] }
        if (res.status === status) return body
        last = `${res.status} ${JSON.stringify(body)}`
        await new Promise((r) => setTimeout(r, 500))
      }
      throw new Error(`/healthz not ${status} in 40 s (last: ${last})\n${ingest.output()}`)
    }
    try {
      await ingest.waitHealthy()
      expect(ingest.output()).toContain('registry matches the on-chain roots')

      const changed = `0x${'34'.repeat(32)}` as const
      await setRoot(odd, changed, 1)
      const body = await healthUntil(503)
      const reason = body.reasons.find((r) => r.code === 'REGISTRY_ROOT_MISMATCH')
      expect(reason?.detail).toContain(
        `pool ${odd} (file root ${c.root}, ${c.deviceCount} devices; on-chain root ${changed}`,
      )
      const logged = ingest
        .output()
        .split('\n')
        .filter((l) => l.includes('"code":"REGISTRY_ROOT_MISMATCH"'))
      expect(logged).toHaveLength(1)
      expect(logged[0]).toContain('"level":50')

      await setRoot(odd, c.root, c.deviceCount)
      await healthUntil(200)
      expect(ingest.output()).toContain('registry matches the on-chain roots again')
    } finally {
      await ingest.kill('SIGTERM')
    }
  })
})
