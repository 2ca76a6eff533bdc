/**
 * The submitter's handling of signatures it cannot keep, with a chain port of fixed state (a
 * pool at epoch 0 on-chain) and a logger that records: a chain far behind its signers refuses
 * their signatures as EPOCH_TOO_FAR, which is counted by reason and summed up in one line per
 * pool a minute, not a warning per signature.
 */
import { describe, expect, it } from 'vitest'
import type { Logger } from '../../runtime/log.ts'
import type { Hex, Proposal } from './domain/proposal.ts'
import { createOracleMetrics } from './metrics.ts'
import type { OracleChain } from './ports.ts'
import { createSubmitter } from './submitter.ts'

const SIGNER = `0x${'11'.repeat(20)}` as Hex

const chain: OracleChain = {
  signerSet: async () => ({ signers: [SIGNER], threshold: 2 }),
  pool: async () => ({ firstEpoch: 0, nextEpoch: 0 }),
  epochRecord: async () => ({ status: 'none', attempt: 0, root: `0x${'00'.repeat(32)}`, finalizesAtSec: 0n }),
  proposalOf: async () => undefined,
  rejectedRoots: async () => [],
  nowSec: async () => 0n,
  propose: async () => {
    throw new Error('not proposed in this test')
  },
  finalize: async () => {
    throw new Error('not finalized in this test')
  },
  finalized: async () => undefined,
  verifyDeviceLeaf: async () => false,
}

function recordingLogger() {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = []
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, msg = '') => {
      lines.push({ level, fields, msg })
    }
  const logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
  } as unknown as Logger
  return { logger, lines }
}

const proposal = (epoch: number): Proposal => ({
  poolId: 'gcl-pv',
  epoch,
  attempt: 0,
  root: `0x${'ab'.repeat(32)}`,
  revenueUnits: 1n,
  energyWh: 1n,
  leafCount: 1,
  treeHash: `0x${'cd'.repeat(32)}`,
  archiveHash: `0x${'ef'.repeat(32)}`,
})

describe('signatures beyond what the book keeps (chain behind its signers)', () => {
  it('are counted and summed up once a minute per pool, never a warning each', async () => {
    let now = 1_000_000
    const { logger, lines } = recordingLogger()
    const metrics = createOracleMetrics()
    const submitter = createSubmitter({
      pools: ['gcl-pv'],
      chain,
      recoverSigner: async () => SIGNER,
      metrics,
      logger,
      bookLimits: { epochsAhead: 2 },
      signaturesStallMs: 60_000,
      nowMs: () => now,
    })
    const sign = (epoch: number) =>
      submitter.onMessage({
        kind: 'signature',
        instance: 'signer-1',
        source: 'replay',
        proposal: proposal(epoch),
        signer: SIGNER,
        signature: '0x00',
      })
    for (let epoch = 0; epoch <= 20; epoch++) await sign(epoch)
    now += 30_000
    for (let epoch = 21; epoch <= 30; epoch++) await sign(epoch)
    now += 31_000
    await sign(31)

    expect(lines.filter((l) => l.level === 'warn')).toEqual([])
    const lag = lines.filter((l) => l.level === 'info' && l.fields.reason === 'EPOCH_TOO_FAR')
    // Epochs 3..31 are beyond 0 + 2: the first one logs, the next 27 in that minute are summed
    // into the line that the first signature after the minute writes.
    expect(lag.map((l) => l.fields)).toEqual([
      { poolId: 'gcl-pv', chainNextEpoch: 0, signedEpoch: 3, notKept: 1, reason: 'EPOCH_TOO_FAR' },
      { poolId: 'gcl-pv', chainNextEpoch: 0, signedEpoch: 31, notKept: 28, reason: 'EPOCH_TOO_FAR' },
    ])
    const counted = await metrics.registry.getSingleMetric('gridroot_oracle_signatures_not_kept_total')?.get()
    expect(counted?.values).toEqual([{ labels: { reason: 'EPOCH_TOO_FAR' }, value: 29 }])
  })
})

describe('a pending proposal with the signed root and totals but other fields (attack10 F2)', () => {
  const A = `0x${'a1'.repeat(20)}` as Hex
  const B = `0x${'b2'.repeat(20)}` as Hex
  const signed = proposal(0)
  for (const [field, forged] of [
    ['energyWh', { ...signed, energyWh: signed.energyWh * 1000n }],
    ['treeHash', { ...signed, treeHash: `0x${'99'.repeat(32)}` }],
    ['archiveHash', { ...signed, archiveHash: `0x${'98'.repeat(32)}` }],
  ] as const)
    it(`is unsigned when its ${field} differs: never finalized, named on /healthz`, async () => {
      const finalized: number[] = []
      const pendingChain: OracleChain = {
        ...chain,
        signerSet: async () => ({ signers: [A, B], threshold: 2 }),
        // The record holds only root, attempt, revenue and leaf count: all as signed.
        epochRecord: async () => ({
          status: 'pending',
          attempt: 0,
          root: signed.root,
          finalizesAtSec: 100n,
          revenueUnits: signed.revenueUnits,
          leafCount: signed.leafCount,
        }),
        proposalOf: async () => forged,
        nowSec: async () => 1_000n,
        finalize: async (_pool, epoch) => {
          finalized.push(epoch)
          return '0x01'
        },
      }
      const { logger, lines } = recordingLogger()
      const submitter = createSubmitter({
        pools: ['gcl-pv'],
        chain: pendingChain,
        recoverSigner: async (_p, signature) => signature as Hex,
        metrics: createOracleMetrics(),
        logger,
        signaturesStallMs: 60_000,
      })
      for (const signer of [A, B])
        await submitter.onMessage({
          kind: 'signature',
          instance: signer,
          source: 'replay',
          proposal: signed,
          signer,
          signature: signer,
        })
      await submitter.tick()
      expect(finalized).toEqual([])
      const problem = submitter.state.unsignedPending.get('gcl-pv')
      expect(problem).toMatchObject({ epoch: 0, pendingRoot: signed.root })
      expect(problem?.signedRoots).toEqual([{ root: signed.root, signers: [A, B], differs: [field] }])
      expect(problem?.message).toContain(`the signers signed this root with other ${field}`)
      expect(lines.some((l) => l.level === 'error' && l.msg === problem?.message)).toBe(true)
    })

  it('is finalized when every field is as signed', async () => {
    const finalized: number[] = []
    const submitter = createSubmitter({
      pools: ['gcl-pv'],
      chain: {
        ...chain,
        signerSet: async () => ({ signers: [A, B], threshold: 2 }),
        epochRecord: async () => ({ status: 'pending', attempt: 0, root: signed.root, finalizesAtSec: 100n }),
        proposalOf: async () => ({ ...signed }),
        nowSec: async () => 1_000n,
        finalize: async (_pool, epoch) => {
          finalized.push(epoch)
          throw new Error('stop after one finalize')
        },
      },
      recoverSigner: async (_p, signature) => signature as Hex,
      metrics: createOracleMetrics(),
      logger: recordingLogger().logger,
      signaturesStallMs: 60_000,
    })
    await submitter.onMessage({
      kind: 'signature',
      instance: 'a',
      source: 'replay',
      proposal: signed,
      signer: A,
      signature: A,
    })
    await submitter.tick()
    expect(finalized).toEqual([0])
    expect(submitter.state.unsignedPending.size).toBe(0)
  })
})
