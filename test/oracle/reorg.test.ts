/**
 * A reorganization that keeps block 0 (attack10 F8): `evm_snapshot`/`evm_revert` on an anvil of
 * the test's own undo the submitter's propose, then its finalize. The deployment watch compares
 * only block 0, so nothing saw it; the submitter had dropped the epoch's signatures at finality,
 * so the epoch open again waited on signatures for good, and the epoch pending again was its own
 * root called "unsigned" (503, never finalized). Now it sees CHAIN_REORG and proposes, then
 * finalizes, the epoch again with the signatures it kept.
 *
 * A real submitter process (test/oracle/support/lone-submitter.ts) and the shared stack's Kafka;
 * the test publishes the signers' signatures itself.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import { DEV_ACCOUNT_ROLES } from '../../contracts/deploy/dev-accounts.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { createProposalSigner } from '../../services/oracle/adapters/chain.ts'
import {
  createKafkaSignatureChannel,
  signaturesTopic,
} from '../../services/oracle/adapters/kafka-signatures.ts'
import type { Proposal } from '../../services/oracle/domain/proposal.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { addPool, passWindow } from '../contracts/support/oracle.ts'
import { deploySystem, poolIdHex, type System } from '../contracts/support/system.ts'
import {
  devKey,
  type LoneSubmitter,
  oneChargerRegistry,
  startLoneSubmitter,
} from './support/lone-submitter.ts'

const endpoints = inject('endpoints')
const name = `org${Date.now().toString(36)}`
const START = Date.parse('2026-06-01T00:00:00+08:00')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const { registry, pool } = oneChargerRegistry(name, START)

let anvil: DedicatedAnvil
let system: System
let lone: LoneSubmitter | undefined

beforeAll(async () => {
  anvil = await startDedicatedAnvil('reorg')
  system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: 60 })
  await addPool(system, poolIdHex(pool))
})
afterAll(async () => {
  await lone?.close()
  await anvil?.stop()
})

const record = async (epoch: bigint) =>
  system.publicClient.readContract({
    address: system.contracts.revenueOracle,
    abi: revenueOracleAbi,
    functionName: 'epochRecord',
    args: [poolIdHex(pool), epoch],
  })
const proposals = async () =>
  (
    await system.publicClient.getContractEvents({
      address: system.contracts.revenueOracle,
      abi: revenueOracleAbi,
      eventName: 'EpochProposed',
      fromBlock: 0n,
    })
  ).length
async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    if (await ok().catch(() => false)) return
    await sleep(300)
  }
  throw new Error(`timed out waiting for ${what}\n${lone?.process.output()}`)
}
const health = async () => {
  const res = await fetch(`http://127.0.0.1:${lone?.process.metricsPort}/healthz`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}
const PENDING = 1
const FINAL = 3

describe('a reorganization under the submitter', () => {
  it('undoing its propose, then its finalize: it proposes and finalizes the epoch again with its signatures', {
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
    lone = await startLoneSubmitter({
      name,
      startMs: START,
      endpoints,
      anvil,
      system,
      registry,
      oracle: { threshold: 2, challengeWindowSec: 60 },
    })
    const beforePropose = await system.testClient.snapshot()
    await ensureTopics(endpoints.kafka, [signaturesTopic(`${name}.`)])
    const channel = await createKafkaSignatureChannel(
      createKafka(endpoints.kafka, `${name}-test-signers`),
      signaturesTopic(`${name}.`).name,
    )
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
    await until('the propose', async () => (await record(0n)).status === PENDING)
    await passWindow(system)
    await until('the finalize', async () => (await record(0n)).status === FINAL)

    // 1. The propose is undone: epoch 0 is open again, and proposed again.
    await system.testClient.revert({ id: beforePropose })
    expect((await record(0n)).status).toBe(0)
    await until('the second propose', async () => (await record(0n)).status === PENDING)
    expect((await record(0n)).root).toBe(signed.root)
    expect(lone.process.output()).toContain('"code":"CHAIN_REORG"')
    expect(await lone.process.metric('gridroot_oracle_chain_reorgs_total')).toBeGreaterThanOrEqual(1)

    // 2. Its finalize is undone: epoch 0 is pending again, its own root, and finalized again.
    const beforeFinalize = await system.testClient.snapshot()
    await passWindow(system)
    await until('the finalize', async () => (await record(0n)).status === FINAL)
    const reorgs = await lone.process.metric('gridroot_oracle_chain_reorgs_total')
    await system.testClient.revert({ id: beforeFinalize })
    expect((await record(0n)).status).toBe(PENDING)
    await until(
      'the reorg seen',
      async () => (await lone!.process.metric('gridroot_oracle_chain_reorgs_total')) > reorgs,
    )
    const h = await health()
    expect(h.body.unsignedPendingRoots).toBeUndefined()
    await passWindow(system)
    await until('the finalize again', async () => (await record(0n)).status === FINAL)
    expect(await proposals()).toBe(1)
    expect(lone.process.output()).not.toContain('was signed by no current signer')
    await until('/healthz 200', async () => (await health()).status === 200)
  })
})
