/**
 * The submitter never finalizes a pending root that no current signer signed in its book
 * (attack10a F2): two of the three signer keys (compromised, or buggy) propose a root with
 * signatures they never published on oracle.signatures.v1. A real submitter process against an
 * anvil of the test's own (the test moves its time past the challenge window) and the shared
 * stack's Kafka; no signer runs, so the submitter's book holds nothing for the epoch.
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { addPool, passWindow, proposal, propose, signProposal } from '../contracts/support/oracle.ts'
import { deploySystem, poolIdHex, type System } from '../contracts/support/system.ts'
import type { ServiceProcess } from '../support/service-process.ts'
import { type LoneSubmitter, oneChargerRegistry, startLoneSubmitter } from './support/lone-submitter.ts'

const endpoints = inject('endpoints')
const name = `ofr${Date.now().toString(36)}`
const START = Date.parse('2026-06-01T00:00:00+08:00')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let anvil: DedicatedAnvil
let system: System
let pool: string
let submitter: ServiceProcess | undefined
let lone: LoneSubmitter | undefined

beforeAll(async () => {
  anvil = await startDedicatedAnvil('foreign-root')
  system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: 60 })
  const { registry, pool: registryPool } = oneChargerRegistry(name, START)
  pool = registryPool
  await addPool(system, poolIdHex(pool))
  lone = await startLoneSubmitter({
    name,
    startMs: START,
    endpoints,
    anvil,
    system,
    registry,
    oracle: { threshold: 2, challengeWindowSec: 60 },
  })
  submitter = lone.process
})
afterAll(async () => {
  await lone?.close()
  await anvil?.stop()
})

const health = async () => {
  const res = await fetch(`http://127.0.0.1:${submitter?.metricsPort}/healthz`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}
async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    const value = await read().catch(() => undefined)
    if (value !== undefined) return value
    await sleep(300)
  }
  throw new Error(`timed out waiting for ${what}\n${submitter?.output()}`)
}
const status = async (epoch: bigint) =>
  (
    await system.publicClient.readContract({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      functionName: 'epochRecord',
      args: [poolIdHex(pool) as Hex, epoch],
    })
  ).status

describe('a pending root no current signer signed in the book', () => {
  it('is never finalized, before or after its window; /healthz is 503 telling a guardian to reject it', {
    timeout: 180_000,
  }, async () => {
    // Signers 1 and 2 sign a made-up root and propose it themselves, publishing nothing.
    const forged = proposal({
      poolId: poolIdHex(pool) as Hex,
      epoch: 0n,
      root: `0x${'ab'.repeat(32)}`,
      revenueUnits: 999_999_999n,
    })
    await propose(
      system,
      forged,
      await signProposal(system, system.signers.slice(0, 2), forged),
      system.wallet(9),
    )
    const alarm = await until('the unsigned-pending alarm', async () => {
      const h = await health()
      return h.status === 503 && h.body.unsignedPendingRoots ? h : undefined
    })
    const [problem] = alarm.body.unsignedPendingRoots as Record<string, unknown>[]
    expect(problem).toMatchObject({ poolId: pool, epoch: 0, attempt: 0, pendingRoot: forged.root })
    expect(String(problem?.message)).toContain('A guardian must reject it')
    expect(String(problem?.message)).toContain('RevenueOracle.reject(poolId, epoch, reason)')
    expect(await submitter!.metric('gridroot_oracle_unsigned_pending_roots_total', { pool })).toBe(1)
    expect(submitter!.output()).toContain(`"pendingRoot":"${forged.root}"`)

    // Past the window: the honest submitter still does not finalize it (status 1 = pending).
    await passWindow(system)
    await sleep(3_000)
    expect(await status(0n)).toBe(1)
    expect((await health()).status).toBe(503)
    expect(await submitter!.metric('gridroot_oracle_unsigned_pending_roots_total', { pool })).toBe(1)
  })
})
