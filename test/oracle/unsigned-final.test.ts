/**
 * A proposal the signers never signed, finalized by someone else (attack10 F1, F2). Two signer
 * keys (compromised, or buggy) propose the root their signers published, with the published
 * revenue and leaf count, but 1000 × the energy: the record stores only root, revenue and leaf
 * count, so the submitter's match of those took it for signed and finalized it. Then, since
 * `finalize` is permissionless, a third party finalizes a forged root after its window: the
 * submitter said "gone" and went back to 200. Now it is 503 UNSIGNED_ROOT_FINAL until an
 * operator acknowledges that root (GRIDROOT_ORACLE_ACKNOWLEDGED_ROOTS), also across a restart.
 *
 * A real submitter process (test/oracle/support/lone-submitter.ts) on an anvil of the test's own
 * and the shared stack's Kafka; the test publishes the signers' signatures itself.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { DEV_ACCOUNT_ROLES } from '../../contracts/deploy/dev-accounts.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { createProposalSigner, toContractProposal } from '../../services/oracle/adapters/chain.ts'
import {
  createKafkaSignatureChannel,
  signaturesTopic,
} from '../../services/oracle/adapters/kafka-signatures.ts'
import type { Proposal } from '../../services/oracle/domain/proposal.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { addPool, finalize, passWindow, propose, signProposal } from '../contracts/support/oracle.ts'
import { deploySystem, poolIdHex, type System } from '../contracts/support/system.ts'
import {
  devKey,
  type LoneSubmitter,
  oneChargerRegistry,
  startLoneSubmitter,
} from './support/lone-submitter.ts'

const endpoints = inject('endpoints')
const name = `ouf${Date.now().toString(36)}`
const START = Date.parse('2026-06-01T00:00:00+08:00')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const { registry, pool } = oneChargerRegistry(name, START)

let anvil: DedicatedAnvil
let system: System
const running: LoneSubmitter[] = []

beforeAll(async () => {
  anvil = await startDedicatedAnvil('unsigned-final')
  system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: 60 })
  await addPool(system, poolIdHex(pool))
})
afterAll(async () => {
  for (const s of running) await s.close()
  await anvil?.stop()
})

const start = async (env: Record<string, string> = {}, waitHealthy = true) => {
  const s = await startLoneSubmitter({
    name,
    startMs: START,
    endpoints,
    anvil,
    system,
    registry,
    oracle: { threshold: 2, challengeWindowSec: 60 },
    env,
    waitHealthy,
  })
  running.push(s)
  return s
}
const stop = async (s: LoneSubmitter) => {
  running.splice(running.indexOf(s), 1)
  await s.close()
}
const health = async (s: LoneSubmitter) => {
  const res = await fetch(`http://127.0.0.1:${s.process.metricsPort}/healthz`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}
async function until<T>(s: LoneSubmitter, what: string, read: () => Promise<T | undefined>): Promise<T> {
  const started = Date.now()
  while (Date.now() - started < 60_000) {
    const value = await read().catch(() => undefined)
    if (value !== undefined) return value
    await sleep(300)
  }
  throw new Error(`timed out waiting for ${what}\n${s.process.output()}`)
}
const problemsOf = (body: Record<string, unknown>) => (body.problems ?? []) as Record<string, unknown>[]
const record = async (epoch: bigint) =>
  system.publicClient.readContract({
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'epochRecord',
    args: [poolIdHex(pool), epoch],
  })

describe('a pending proposal the signers did not sign, finalized by anyone', () => {
  it('is unsigned although its root and totals are the signed ones, and 503 UNSIGNED_ROOT_FINAL once final, until acknowledged', {
    timeout: 300_000,
  }, async () => {
    const signed: Proposal = {
      poolId: pool,
      epoch: 0,
      attempt: 0,
      root: `0x${'ab'.repeat(32)}`,
      revenueUnits: 1_000_000n,
      energyWh: 5_000n,
      leafCount: 1,
      treeHash: `0x${'cd'.repeat(32)}`,
      archiveHash: `0x${'ef'.repeat(32)}`,
    }
    const forged = { ...signed, energyWh: signed.energyWh * 1000n }
    // The forgery is proposed first (so the submitter cannot propose the signed one) …
    const onChain = toContractProposal(forged)
    await propose(
      system,
      onChain,
      await signProposal(system, system.signers.slice(0, 2), onChain),
      system.wallet(9),
    )
    // … and the signers publish what they signed.
    await ensureTopics(endpoints.kafka, [signaturesTopic(`${name}.`)])
    const kafka = createKafka(endpoints.kafka, `${name}-test-signers`)
    const channel = await createKafkaSignatureChannel(kafka, signaturesTopic(`${name}.`).name)
    for (const index of DEV_ACCOUNT_ROLES.oracleSigners.slice(0, 2)) {
      const signer = createProposalSigner(
        devKey(index),
        anvil.endpoint.chainId,
        system.contracts.revenueOracle,
      )
      await channel.publish({
        kind: 'signature',
        instance: `signer-${index}`,
        source: 'replay',
        proposal: signed,
        signer: signer.address,
        signature: await signer.sign(signed),
      })
    }
    await channel.close()

    const first = await start({}, false)
    const pending = await until(first, 'the unsigned-pending alarm', async () => {
      const h = await health(first)
      return h.status === 503 && h.body.unsignedPendingRoots ? h : undefined
    })
    const [alarm] = pending.body.unsignedPendingRoots as Record<string, unknown>[]
    expect(alarm).toMatchObject({ poolId: pool, epoch: 0, pendingRoot: signed.root })
    expect(alarm?.signedRoots).toEqual([
      { root: signed.root, signers: expect.any(Array), differs: ['energyWh'] },
    ])
    // Past the window the honest submitter does not finalize it (the old match did).
    await passWindow(system)
    await sleep(3_000)
    expect((await record(0n)).status).toBe(1)

    // Anyone may: a third party finalizes it.
    await finalize(system, poolIdHex(pool), 0n)
    const final = await until(first, 'UNSIGNED_ROOT_FINAL', async () => {
      const h = await health(first)
      return problemsOf(h.body).some((p) => p.code === 'UNSIGNED_ROOT_FINAL') ? h : undefined
    })
    expect(final.status).toBe(503)
    const problem = problemsOf(final.body).find((p) => p.code === 'UNSIGNED_ROOT_FINAL')
    expect(problem).toMatchObject({ poolId: pool, epoch: 0, root: signed.root })
    expect(String(problem?.hint)).toContain(`GRIDROOT_ORACLE_ACKNOWLEDGED_ROOTS`)
    expect(await first.process.metric('gridroot_oracle_unsigned_final_roots', { pool })).toBe(1)
    expect(first.process.output()).toContain('"code":"UNSIGNED_ROOT_FINAL"')
    // It stays 503 (it went back to 200 before).
    await sleep(3_000)
    expect((await health(first)).status).toBe(503)
    await stop(first)

    // A restart finds it again once it has read its signatures …
    const restarted = await start({}, false)
    await until(restarted, 'UNSIGNED_ROOT_FINAL after a restart', async () => {
      const h = await health(restarted)
      return problemsOf(h.body).some((p) => p.code === 'UNSIGNED_ROOT_FINAL') ? h : undefined
    })
    await stop(restarted)

    // … and an acknowledgement of that exact root clears it.
    const acknowledged = await start({ GRIDROOT_ORACLE_ACKNOWLEDGED_ROOTS: `${pool}/0/${signed.root}` })
    await sleep(3_000)
    const h = await health(acknowledged)
    expect(h.status).toBe(200)
    expect(acknowledged.process.output()).toContain('"acknowledged":true')
  })
})
