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
  headBlock: async () => ({ number: 1n, hash: `0x${'01'.repeat(32)}` }),
  blockAt: async (number) => ({ number, hash: `0x${'01'.repeat(32)}` }),
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

/** A RevenueOracle of one pool in memory: propose and finalize as the contract does, blocks with hashes, and reorgs. */
function memoryChain(signers: readonly Hex[]) {
  type Rec = { status: 'none' | 'pending' | 'final'; attempt: number; root: Hex; finalizesAtSec: bigint }
  const state = {
    nextEpoch: 0,
    records: new Map<number, Rec>(),
    proposals: new Map<number, Proposal>(),
    /** block hashes by number; the head is the last */
    blocks: [`0x${'00'.repeat(32)}`] as Hex[],
    nowSec: 1_000n,
    proposed: [] as Proposal[],
    finalized: [] as number[],
  }
  let fork = 0
  const mine = () => {
    state.blocks.push(`0x${(state.blocks.length + 256 * fork).toString(16).padStart(64, '0')}` as Hex)
  }
  const snapshot = () => structuredClone({ ...state, proposed: [], finalized: [] })
  const revert = (snap: ReturnType<typeof snapshot>) => {
    fork++
    state.nextEpoch = snap.nextEpoch
    state.records = snap.records
    state.proposals = snap.proposals
    state.blocks = snap.blocks
  }
  const chain: OracleChain = {
    ...(undefined as unknown as OracleChain),
    signerSet: async () => ({ signers: [...signers], threshold: 2 }),
    pool: async () => ({ firstEpoch: 0, nextEpoch: state.nextEpoch }),
    epochRecord: async (_pool, epoch) =>
      state.records.get(epoch) ?? { status: 'none', attempt: 0, root: ZERO, finalizesAtSec: 0n },
    proposalOf: async (_pool, epoch) => state.proposals.get(epoch),
    rejectedRoots: async () => [],
    headBlock: async () => ({ number: BigInt(state.blocks.length - 1), hash: state.blocks.at(-1) as Hex }),
    blockAt: async (n) =>
      n < state.blocks.length ? { number: n, hash: state.blocks[Number(n)] as Hex } : undefined,
    nowSec: async () => state.nowSec,
    propose: async (p) => {
      state.records.set(p.epoch, {
        status: 'pending',
        attempt: 0,
        root: p.root,
        finalizesAtSec: state.nowSec + 60n,
      })
      state.proposals.set(p.epoch, p)
      state.proposed.push(p)
      mine()
      return '0x01'
    },
    finalize: async (_pool, epoch) => {
      const r = state.records.get(epoch)
      if (r?.status !== 'pending' || state.nowSec < r.finalizesAtSec)
        throw new Error('NotPending or window open')
      state.records.set(epoch, { ...r, status: 'final' })
      state.nextEpoch = epoch + 1
      state.finalized.push(epoch)
      mine()
      return '0x02'
    },
  }
  return { chain, state, snapshot, revert }
}

const ZERO = `0x${'00'.repeat(32)}` as Hex
const SA = `0x${'a1'.repeat(20)}` as Hex
const SB = `0x${'b2'.repeat(20)}` as Hex

function submitterOn(chain: OracleChain, extra: Partial<Parameters<typeof createSubmitter>[0]> = {}) {
  const { logger, lines } = recordingLogger()
  const metrics = createOracleMetrics()
  const submitter = createSubmitter({
    pools: ['gcl-pv'],
    chain,
    recoverSigner: async (_p, signature) => signature as Hex,
    metrics,
    logger,
    signaturesStallMs: 60_000,
    ...extra,
  })
  const sign = async (p: Proposal) => {
    for (const signer of [SA, SB])
      await submitter.onMessage({
        kind: 'signature',
        instance: signer,
        source: 'replay',
        proposal: p,
        signer,
        signature: signer,
      })
  }
  return { submitter, lines, metrics, sign }
}

describe('an unsigned root that went final (attack10 F1)', () => {
  const forged = { ...proposal(0), root: `0x${'66'.repeat(32)}` as Hex }
  const setUp = () => {
    const m = memoryChain([SA, SB])
    // Someone proposed a root the signers never signed…
    m.state.records.set(0, { status: 'pending', attempt: 0, root: forged.root, finalizesAtSec: 900n })
    m.state.proposals.set(0, forged)
    return m
  }
  const finalizeByAnyone = (m: ReturnType<typeof memoryChain>) => {
    m.state.records.set(0, { status: 'final', attempt: 0, root: forged.root, finalizesAtSec: 900n })
    m.state.nextEpoch = 1
  }

  it('stays 503 UNSIGNED_ROOT_FINAL, naming pool, epoch and root, after anyone finalizes it', async () => {
    const m = setUp()
    const { submitter, lines, metrics, sign } = submitterOn(m.chain)
    await sign(proposal(0))
    await submitter.tick()
    expect(submitter.state.unsignedPending.get('gcl-pv')?.pendingRoot).toBe(forged.root)
    expect(m.state.finalized).toEqual([])
    // …and after its window anyone finalized it.
    finalizeByAnyone(m)
    for (let i = 0; i < 3; i++) await submitter.tick()
    expect(submitter.state.unsignedPending.size).toBe(0)
    const problem = submitter.state.unsignedFinal.get('gcl-pv/0')
    expect(problem).toMatchObject({
      code: 'UNSIGNED_ROOT_FINAL',
      poolId: 'gcl-pv',
      epoch: 0,
      root: forged.root,
    })
    expect(problem?.signedRoots).toEqual([{ root: proposal(0).root, signers: [SA, SB] }])
    expect(problem?.hint).toContain(`gcl-pv/0/${forged.root}`)
    expect(lines.filter((l) => l.level === 'error' && l.fields.code === 'UNSIGNED_ROOT_FINAL')).toHaveLength(
      1,
    )
    const gauge = await metrics.registry.getSingleMetric('gridroot_oracle_unsigned_final_roots')?.get()
    expect(gauge?.values).toEqual([{ labels: { pool: 'gcl-pv' }, value: 1 }])
  })

  it('is not called unsigned by a restarted submitter before it has read its signatures (attack10 F4)', async () => {
    const m = memoryChain([SA, SB])
    // The honest root is pending, proposed with the signers' signatures by a submitter before.
    m.state.records.set(0, { status: 'pending', attempt: 0, root: proposal(0).root, finalizesAtSec: 900n })
    m.state.proposals.set(0, proposal(0))
    let caughtUp = false
    const restarted = submitterOn(m.chain, { caughtUp: () => caughtUp })
    await restarted.submitter.tick()
    expect(restarted.submitter.state.unsignedPending.size).toBe(0)
    expect(restarted.lines.filter((l) => l.level === 'error')).toEqual([])
    await restarted.sign(proposal(0))
    caughtUp = true
    await restarted.submitter.tick()
    expect(restarted.submitter.state.unsignedPending.size).toBe(0)
    // A forged pending root is still named once the book is loaded.
    const forgedChain = setUp()
    let loaded = false
    const other = submitterOn(forgedChain.chain, { caughtUp: () => loaded })
    await other.submitter.tick()
    expect(other.submitter.state.unsignedPending.size).toBe(0)
    await other.sign(proposal(0))
    loaded = true
    await other.submitter.tick()
    expect(other.submitter.state.unsignedPending.get('gcl-pv')?.pendingRoot).toBe(forged.root)
  })

  it('is found again by a restarted submitter once it has read its signatures, and cleared only by an acknowledgement', async () => {
    const m = setUp()
    finalizeByAnyone(m)
    let caughtUp = false
    const restarted = submitterOn(m.chain, { caughtUp: () => caughtUp })
    await restarted.submitter.tick()
    expect(restarted.submitter.state.unsignedFinal.size).toBe(0)
    await restarted.sign(proposal(0))
    caughtUp = true
    await restarted.submitter.tick()
    expect([...restarted.submitter.state.unsignedFinal.keys()]).toEqual(['gcl-pv/0'])

    const acknowledged = submitterOn(m.chain, {
      acknowledgedRoots: [{ poolId: 'gcl-pv', epoch: 0, root: forged.root }],
    })
    await acknowledged.sign(proposal(0))
    await acknowledged.submitter.tick()
    expect(acknowledged.submitter.state.unsignedFinal.size).toBe(0)
    expect(acknowledged.lines.some((l) => l.level === 'warn' && l.fields.acknowledged === true)).toBe(true)
    // An acknowledgement is for that exact root.
    const other = submitterOn(m.chain, {
      acknowledgedRoots: [{ poolId: 'gcl-pv', epoch: 0, root: proposal(0).root }],
    })
    await other.submitter.tick()
    expect(other.submitter.state.unsignedFinal.size).toBe(1)
  })

  it('says nothing of a final root the signers signed', async () => {
    const m = memoryChain([SA, SB])
    const { submitter, sign } = submitterOn(m.chain)
    await sign(proposal(0))
    await submitter.tick()
    m.state.nowSec += 61n
    await submitter.tick()
    expect(m.state.finalized).toEqual([0])
    await submitter.tick()
    expect(submitter.state.unsignedFinal.size).toBe(0)
  })
})

describe('a reorganization (attack10 F8)', () => {
  it('undoing the finalize: the submitter finalizes its own root again, never calls it unsigned', async () => {
    const m = memoryChain([SA, SB])
    const { submitter, lines, metrics, sign } = submitterOn(m.chain)
    await sign(proposal(0))
    await submitter.tick()
    m.state.nowSec += 61n
    const beforeFinalize = m.snapshot()
    await submitter.tick()
    await submitter.tick()
    expect(m.state.finalized).toEqual([0])
    m.revert(beforeFinalize)
    m.state.blocks.push(`0x${'ee'.repeat(32)}`) // another block at the remembered height
    await submitter.tick()
    expect(lines.some((l) => l.level === 'warn' && l.fields.code === 'CHAIN_REORG')).toBe(true)
    expect(submitter.state.unsignedPending.size).toBe(0)
    expect(m.state.finalized).toEqual([0, 0])
    expect(
      (await metrics.registry.getSingleMetric('gridroot_oracle_chain_reorgs_total')?.get())?.values[0]?.value,
    ).toBe(1)
  })

  it('undoing the propose: the submitter proposes the epoch again with the signatures it kept', async () => {
    const m = memoryChain([SA, SB])
    const { submitter, sign } = submitterOn(m.chain)
    await sign(proposal(0))
    const beforePropose = m.snapshot()
    await submitter.tick()
    m.state.nowSec += 61n
    await submitter.tick()
    expect(m.state.finalized).toEqual([0])
    expect(m.state.proposed).toHaveLength(1)
    m.revert(beforePropose)
    m.state.blocks.push(`0x${'ef'.repeat(32)}`, `0x${'f0'.repeat(32)}`)
    await submitter.tick()
    expect(m.state.proposed).toHaveLength(2)
    expect(m.state.proposed[1]).toEqual(proposal(0))
  })
})
