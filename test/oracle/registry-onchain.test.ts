/**
 * The oracle's signers and guardian build device leaves from their registry file: one that does
 * not hash to a pool's on-chain registry root is refused at start (exit 1, REGISTRY_ROOT_MISMATCH
 * naming the pool), and a root changed on-chain under a running signer or guardian turns its
 * /healthz 503 with that code (a signer signs nothing meanwhile, a guardian judges nothing)
 * until it matches again. Real processes on an anvil of the test's own and the shared Kafka.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { deviceRegistryAbi } from '../../contracts/abi/index.ts'
import { DEV_ACCOUNT_ROLES } from '../../contracts/deploy/dev-accounts.ts'
import { poolIdBytes32, registryCommitment } from '../../core/chain/registry-root.ts'
import { parseRegistry } from '../../core/identity/registry.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { commitRegistryRoots } from '../contracts/support/device-epoch.ts'
import { addPool } from '../contracts/support/oracle.ts'
import { deploySystem, exec, poolIdHex, type System } from '../contracts/support/system.ts'
import { devKey, oneChargerRegistry, startLoneSubmitter } from './support/lone-submitter.ts'

const endpoints = inject('endpoints')
const name = `oreg${Date.now().toString(36)}`
const START = Date.parse('2026-06-01T00:00:00+08:00')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const { registry, pool } = oneChargerRegistry(name, START)

const ROLES = {
  signer: {
    GRIDROOT_ORACLE_ROLE: 'signer',
    GRIDROOT_ORACLE_SIGNER_KEY: devKey(DEV_ACCOUNT_ROLES.oracleSigners[0] as number),
  },
  guardian: {
    GRIDROOT_ORACLE_ROLE: 'guardian',
    GRIDROOT_ORACLE_GUARDIAN_KEY: devKey(DEV_ACCOUNT_ROLES.guardian),
  },
} as const

let anvil: DedicatedAnvil
let system: System

beforeAll(async () => {
  anvil = await startDedicatedAnvil('oracle-registry')
  system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: 60 })
  await addPool(system, poolIdHex(pool))
})
afterAll(async () => {
  await anvil?.stop()
})

const setRoot = (root: `0x${string}`, deviceCount: number) =>
  exec(system, system.deployer.walletClient, {
    address: system.contracts.deviceRegistry,
    abi: deviceRegistryAbi,
    functionName: 'setRoot',
    args: [poolIdBytes32(pool), root, deviceCount],
  })

const start = (role: keyof typeof ROLES, waitHealthy: boolean) =>
  startLoneSubmitter({
    name: `${name}-${role}`,
    startMs: START,
    endpoints,
    anvil,
    system,
    registry,
    env: { ...ROLES[role], GRIDROOT_ORACLE_INSTANCE: `${name}-${role}` },
    waitHealthy,
  })

describe('oracle signer and guardian against the on-chain registry', () => {
  it('refuse to start with a registry the chain does not commit, naming the pool', async () => {
    await setRoot(`0x${'12'.repeat(32)}`, 1)
    for (const role of ['signer', 'guardian'] as const) {
      const lone = await start(role, false)
      try {
        const code = await new Promise<number | null>((resolve) => {
          if (lone.process.child.exitCode !== null) resolve(lone.process.child.exitCode)
          lone.process.child.once('exit', (c) => resolve(c))
        })
        expect(code, lone.process.output()).toBe(1)
        expect(lone.process.output()).toContain('REGISTRY_ROOT_MISMATCH')
        expect(lone.process.output()).toContain(`pool ${pool}`)
      } finally {
        await lone.close()
      }
    }
  })

  it('start once the root matches, and turn /healthz 503 while a changed root differs', {
    timeout: 240_000,
  }, async () => {
    await commitRegistryRoots(system, parseRegistry(registry).devices())
    const committed = registryCommitment(parseRegistry(registry).devices(), pool)
    for (const role of ['signer', 'guardian'] as const) {
      const lone = await start(role, true)
      const healthUntil = async (status: number) => {
        const deadline = Date.now() + 60_000
        let last = ''
        while (Date.now() < deadline) {
          const res = await fetch(`http://127.0.0.1:${lone.process.metricsPort}/healthz`)
          const body = (await res.json()) as { problems?: { code: string; message: string }[] }
          if (res.status === status) return body
          last = `${res.status} ${JSON.stringify(body)}`
          await sleep(500)
        }
        throw new Error(`${role} /healthz not ${status} in 60 s (last: ${last})\n${lone.process.output()}`)
      }
      try {
        expect(lone.process.output()).toContain('registry matches the on-chain roots')
        const changed = `0x${'34'.repeat(32)}` as const
        await setRoot(changed, 2)
        const body = await healthUntil(503)
        const problem = body.problems?.find((p) => p.code === 'REGISTRY_ROOT_MISMATCH')
        expect(problem?.message, JSON.stringify(body)).toContain(`pool ${pool} (file root ${committed.root}`)
        expect(problem?.message).toContain(`on-chain root ${changed}`)
        await setRoot(committed.root, committed.deviceCount)
        await healthUntil(200)
      } finally {
        await lone.close()
      }
    }
  })
})
