import { describe, expect, it } from 'vitest'
import { type Hex, type Proposal, ZERO_HASH } from './proposal.ts'
import { type AddResult, SignatureBook } from './signature-book.ts'
import { nextSubmitStep, type PoolChainState, type SignedInBook } from './submit-step.ts'

const A = '0x00000000000000000000000000000000000000a1' as Hex
const B = '0x00000000000000000000000000000000000000b2' as Hex
const C = '0x00000000000000000000000000000000000000c3' as Hex
const OUTSIDER = '0x00000000000000000000000000000000000000d4' as Hex
const SIGNERS = [C, A, B]

const proposal = (root: string, overrides: Partial<Proposal> = {}): Proposal => ({
  poolId: 'pool-a',
  epoch: 3,
  attempt: 0,
  root: `0x${root.padStart(64, '0')}` as Hex,
  revenueUnits: 1_000_000n,
  energyWh: 12_345n,
  leafCount: 2,
  treeHash: `0x${'11'.repeat(32)}`,
  archiveHash: `0x${'22'.repeat(32)}`,
  ...overrides,
})
const disagreementOf = (r: AddResult) => (r.kind === 'added' ? r.disagreement : undefined)
const sig = (who: Hex): Hex => `0x${who.slice(2).repeat(3).slice(0, 130)}`

describe('SignatureBook', () => {
  it('is ready only when threshold current signers signed the same proposal, signers ascending', () => {
    const book = new SignatureBook(['pool-a'])
    book.add({ proposal: proposal('aa'), signer: C, signature: sig(C) })
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)).toBeUndefined()
    book.add({ proposal: proposal('aa'), signer: OUTSIDER, signature: sig(OUTSIDER) })
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)).toBeUndefined()
    book.add({ proposal: proposal('aa'), signer: A, signature: sig(A) })
    const ready = book.ready('pool-a', 3, 0, SIGNERS, 2)
    expect(ready?.signers).toEqual([A, C])
    expect(ready?.signatures).toEqual([sig(A), sig(C)])
    expect(book.ready('pool-a', 4, 0, SIGNERS, 2)).toBeUndefined()
  })

  it('never mixes proposals to reach the threshold, and reports a disagreement with both roots', () => {
    const book = new SignatureBook(['pool-a'])
    expect(
      disagreementOf(book.add({ proposal: proposal('aa'), signer: A, signature: sig(A) })),
    ).toBeUndefined()
    const disagreement = disagreementOf(book.add({ proposal: proposal('bb'), signer: B, signature: sig(B) }))
    expect(disagreement?.proposals.map((p) => p.root)).toEqual([proposal('aa').root, proposal('bb').root])
    expect(disagreement?.proposals[1]?.signers).toEqual([B.toLowerCase()])
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)).toBeUndefined()
    // Same root, another archive hash: still a different proposal.
    const other = disagreementOf(
      book.add({ proposal: proposal('aa', { archiveHash: ZERO_HASH }), signer: C, signature: sig(C) }),
    )
    expect(other?.proposals).toHaveLength(3)
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)).toBeUndefined()
    // A second signature on a proposal already seen is no new disagreement.
    expect(book.add({ proposal: proposal('bb'), signer: C, signature: sig(C) })).toEqual({
      kind: 'added',
      disagreement: undefined,
    })
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)?.proposal.root).toBe(proposal('bb').root)
  })

  it('skips rejected roots', () => {
    const book = new SignatureBook(['pool-a'])
    for (const s of [A, B]) book.add({ proposal: proposal('aa'), signer: s, signature: sig(s) })
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2, new Set([proposal('aa').root]))).toBeUndefined()
  })
})

describe('SignatureBook bounds', () => {
  const signed = (who: Hex, root: string, over: Partial<Proposal> = {}) => ({
    proposal: proposal(root, over),
    signer: who,
    signature: sig(who),
  })

  it('keeps only epochs from the chain’s next epoch to the window ahead, and drops what became final', () => {
    // Final epochs settle at once here (kept for a reorg: the next test).
    const book = new SignatureBook(['pool-a'], { epochsAhead: 4, finalEpochsKept: 0 })
    book.sync('pool-a', 3, 0)
    expect(book.add(signed(A, 'aa', { epoch: 2 }))).toEqual({ kind: 'refused', reason: 'EPOCH_DONE' })
    expect(book.add(signed(A, 'aa', { epoch: 8 }))).toEqual({ kind: 'refused', reason: 'EPOCH_TOO_FAR' })
    for (let epoch = 3; epoch <= 7; epoch++) expect(book.add(signed(A, 'aa', { epoch })).kind).toBe('added')
    expect(book.add({ ...signed(A, 'aa'), proposal: { ...proposal('aa'), poolId: 'pool-x' } })).toEqual({
      kind: 'refused',
      reason: 'UNKNOWN_POOL',
    })
    expect(book.size().epochs).toBe(5)
    book.sync('pool-a', 6, 0) // epochs 3–5 final
    expect(book.size().epochs).toBe(2)
    expect(book.proposalsFor('pool-a', 5)).toEqual([])
    expect(book.proposalsFor('pool-a', 6)).toHaveLength(1)
    // the chain never goes back: an older state read late changes nothing
    book.sync('pool-a', 4, 0)
    expect(book.add(signed(A, 'aa', { epoch: 5 }))).toEqual({ kind: 'refused', reason: 'EPOCH_DONE' })
    book.forgetBefore('pool-a', 7)
    expect(book.size().epochs).toBe(1)
  })

  it('keeps a final epoch until it is final at a safe depth, and takes it back after a reorg (attack10 F8)', () => {
    const book = new SignatureBook(['pool-a'], { finalDepthBlocks: 10n, finalEpochsKept: 3 })
    book.setHead(100n)
    book.sync('pool-a', 3, 0)
    for (const s of [A, B]) book.add(signed(s, 'aa'))
    // Epoch 3 goes final at block 100: its signatures stay, and a late one is still taken.
    book.sync('pool-a', 4, 0)
    expect(book.add(signed(C, 'aa')).kind).toBe('added')
    expect(book.signedBy('pool-a', proposal('aa'), SIGNERS)).toHaveLength(3)
    // A reorg undoes its propose: the chain waits on epoch 3 again, and the book proposes it.
    book.sync('pool-a', 3, 0) // a stale read without a reorg changes nothing…
    book.rewind()
    book.sync('pool-a', 3, 0) // …a reorg does
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)?.proposal).toEqual(proposal('aa'))
    // Final again at block 105, still at 114; settled at 115: dropped and refused from then on.
    book.setHead(105n)
    book.sync('pool-a', 4, 0)
    book.setHead(114n)
    book.sync('pool-a', 4, 0)
    expect(book.size().epochs).toBe(1)
    book.setHead(115n)
    book.sync('pool-a', 4, 0)
    expect(book.size().epochs).toBe(0)
    expect(book.add(signed(A, 'aa'))).toEqual({ kind: 'refused', reason: 'EPOCH_DONE' })
    // On a chain that mines no blocks, at most finalEpochsKept final epochs stay.
    for (let epoch = 4; epoch < 10; epoch++) book.add(signed(A, 'aa', { epoch }))
    book.sync('pool-a', 10, 0)
    expect(book.size().epochs).toBe(3)
    expect(book.add(signed(A, 'aa', { epoch: 6 }))).toEqual({ kind: 'refused', reason: 'EPOCH_DONE' })
    expect(book.add(signed(B, 'aa', { epoch: 7 })).kind).toBe('added')
  })

  it('signatures of a rejected attempt are no disagreement with the next attempt, same root or not (attack10b F5)', () => {
    const book = new SignatureBook(['pool-a'])
    book.sync('pool-a', 3, 0)
    for (const s of [A, B]) book.add(signed(s, 'aa'))
    // the signers see the rejection before the submitter's next tick syncs attempt 1
    expect(disagreementOf(book.add(signed(A, 'aa', { attempt: 1 })))).toBeUndefined()
    expect(disagreementOf(book.add(signed(B, 'bb', { attempt: 1 })))?.proposals.map((p) => p.root)).toEqual([
      proposal('aa').root,
      proposal('bb').root,
    ])
  })

  it('drops the next epoch’s earlier attempts once the guardian rejected one', () => {
    const book = new SignatureBook(['pool-a'])
    book.sync('pool-a', 3, 0)
    for (const s of [A, B]) book.add(signed(s, 'aa'))
    book.sync('pool-a', 3, 1)
    expect(book.size().proposals).toBe(0)
    expect(book.add(signed(A, 'aa'))).toEqual({ kind: 'refused', reason: 'STALE_ATTEMPT' })
    expect(book.add(signed(A, 'cc', { attempt: 1 })).kind).toBe('added')
    expect(book.add(signed(B, 'cc', { attempt: 1 })).kind).toBe('added')
    expect(book.ready('pool-a', 3, 1, SIGNERS, 2)?.proposal.root).toBe(proposal('cc').root)
  })

  it('a signer flooding one epoch with roots keeps only its latest, and the honest root still gets proposed', () => {
    const book = new SignatureBook(['pool-a'], { proposalsPerSigner: 2 })
    book.setSigners(SIGNERS)
    book.sync('pool-a', 3, 0)
    book.add(signed(A, 'aa'))
    for (let i = 0; i < 1000; i++) expect(book.add(signed(C, `f${i.toString(16)}`)).kind).toBe('added')
    expect(book.size()).toMatchObject({ proposals: 3, signatures: 3 })
    expect(book.proposalsFor('pool-a', 3).map((p) => p.root)).toEqual(
      [proposal('aa'), proposal('f3e6'), proposal('f3e7')].map((p) => p.root),
    )
    book.add(signed(B, 'aa'))
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)?.signers).toEqual([A, B])
  })

  it('refuses signers outside the on-chain set once it is known, and drops a removed signer’s signatures', () => {
    const book = new SignatureBook(['pool-a'])
    book.sync('pool-a', 3, 0)
    expect(book.add(signed(OUTSIDER, 'aa')).kind).toBe('added')
    book.add(signed(A, 'aa'))
    book.setSigners(SIGNERS)
    expect(book.size().signatures).toBe(1)
    expect(book.add(signed(OUTSIDER, 'bb'))).toEqual({ kind: 'refused', reason: 'NOT_A_SIGNER' })
    book.setSigners([B, C])
    expect(book.size()).toMatchObject({ proposals: 0, signatures: 0 })
  })

  it('before the signer set and the chain are known: at most so many proposals, signatures and epochs', () => {
    const book = new SignatureBook(['pool-a'], {
      epochsAhead: 3,
      proposalsPerEpoch: 4,
      signaturesPerProposal: 5,
      finalEpochsKept: 0,
    })
    const key = (i: number) => `0x${i.toString(16).padStart(40, '0')}` as Hex
    const results = Array.from({ length: 50 }, (_, i) => book.add(signed(key(i + 1), `e${i}`)))
    expect(results.filter((r) => r.kind === 'added')).toHaveLength(4)
    expect(results[49]).toEqual({ kind: 'refused', reason: 'TOO_MANY_PROPOSALS' })
    const onOne = Array.from({ length: 50 }, (_, i) => book.add(signed(key(100 + i), 'e0')))
    expect(onOne.filter((r) => r.kind === 'added')).toHaveLength(4)
    expect(onOne[49]).toEqual({ kind: 'refused', reason: 'TOO_MANY_SIGNATURES' })
    for (let epoch = 10; epoch < 100; epoch++) book.add(signed(A, 'aa', { epoch }))
    expect(book.size().epochs).toBe(4)
    expect(book.proposalsFor('pool-a', 99)).toHaveLength(1)
    expect(book.proposalsFor('pool-a', 3)).toEqual([])
    // once the chain is known, what is beyond its window goes
    book.sync('pool-a', 97, 0)
    expect(book.size().epochs).toBe(3)
  })

  it('keeps the latest refusal per signer, under the same window', () => {
    const book = new SignatureBook(['pool-a'], { refusalsPerEpoch: 2, finalEpochsKept: 0 })
    book.sync('pool-a', 3, 0)
    const refusal = (signer: Hex, detail: string, epoch = 3) => ({
      poolId: 'pool-a',
      epoch,
      signer,
      reason: 'ANNOUNCEMENT_MISMATCH',
      detail,
      ownRoot: undefined,
    })
    expect(book.addRefusal(refusal(A, 'one'))).toBeUndefined()
    book.addRefusal(refusal(A, 'two'))
    book.addRefusal(refusal(B, 'three'))
    book.addRefusal(refusal(C, 'four'))
    expect(book.refusalsFor('pool-a', 3).map((r) => r.detail)).toEqual(['three', 'four'])
    expect(book.addRefusal(refusal(A, 'old', 2))).toBe('EPOCH_DONE')
  })
})

describe('nextSubmitStep', () => {
  const state = (over: Partial<PoolChainState> = {}): PoolChainState => ({
    poolId: 'pool-a',
    nextEpoch: 3,
    attempt: 0,
    pending: undefined,
    rejectedRoots: [],
    ...over,
  })
  const book = new SignatureBook(['pool-a'])
  for (const s of [A, B]) book.add({ proposal: proposal('aa'), signer: s, signature: sig(s) })
  const readyFor = (epoch: number, attempt: number, rejected: ReadonlySet<string>) =>
    book.ready('pool-a', epoch, attempt, SIGNERS, 2, rejected)
  const signedInBook: SignedInBook = (pending) =>
    book.signedBy('pool-a', pending.proposal, SIGNERS).length > 0
  const pendingOf = (p: Proposal) => ({ epoch: p.epoch, root: p.root, finalizableAtSec: 160n, proposal: p })

  it('proposes the next epoch once signed, and never while a root is pending', () => {
    expect(nextSubmitStep(state(), 100n, readyFor, signedInBook)).toMatchObject({ kind: 'propose', epoch: 3 })
    expect(nextSubmitStep(state({ nextEpoch: 4 }), 100n, readyFor, signedInBook)).toMatchObject({
      kind: 'wait',
      reason: 'signatures',
      epoch: 4,
    })
    const pending = pendingOf(proposal('aa'))
    expect(nextSubmitStep(state({ pending }), 159n, readyFor, signedInBook)).toMatchObject({
      kind: 'wait',
      reason: 'challenge-window',
      untilSec: 160n,
    })
    expect(nextSubmitStep(state({ pending }), 160n, readyFor, signedInBook)).toMatchObject({
      kind: 'finalize',
      epoch: 3,
    })
  })

  it('never finalizes a pending root no current signer signed, before or after its window (attack10a F2)', () => {
    const foreign = pendingOf(proposal('ff'))
    for (const now of [100n, 160n, 10_000n])
      expect(nextSubmitStep(state({ pending: foreign }), now, readyFor, signedInBook)).toEqual({
        kind: 'wait',
        poolId: 'pool-a',
        epoch: 3,
        reason: 'unsigned-pending',
        attempt: 0,
        root: foreign.root,
        untilSec: 160n,
      })
    // signed for attempt 0 only: after a rejection, attempt 1's pending root is not signed
    expect(
      nextSubmitStep(
        state({ pending: pendingOf(proposal('aa', { attempt: 1 })), attempt: 1 }),
        160n,
        readyFor,
        signedInBook,
      ),
    ).toMatchObject({ reason: 'unsigned-pending' })
    expect(
      nextSubmitStep(state({ pending: pendingOf(proposal('aa')) }), 160n, readyFor, signedInBook),
    ).toMatchObject({ kind: 'finalize' })
  })

  it('compares every signed field of the pending proposal, not only root and totals (attack10 F2)', () => {
    const signed = proposal('aa')
    const forgeries: Partial<Proposal>[] = [
      { revenueUnits: signed.revenueUnits * 10n },
      { leafCount: signed.leafCount + 1 },
      { energyWh: signed.energyWh * 10n },
      { treeHash: `0x${'99'.repeat(32)}` },
      { archiveHash: ZERO_HASH },
    ]
    for (const forged of forgeries)
      expect(
        nextSubmitStep(state({ pending: pendingOf({ ...signed, ...forged }) }), 160n, readyFor, signedInBook),
        JSON.stringify(Object.keys(forged)),
      ).toMatchObject({ reason: 'unsigned-pending' })
    // Hex case is no difference.
    expect(
      nextSubmitStep(
        state({
          pending: pendingOf({
            ...signed,
            treeHash: signed.treeHash.toUpperCase().replace('0X', '0x') as Hex,
          }),
        }),
        160n,
        readyFor,
        signedInBook,
      ),
    ).toMatchObject({ kind: 'finalize' })
  })

  it('takes only signatures made for the current attempt', () => {
    expect(nextSubmitStep(state({ attempt: 1 }), 100n, readyFor, signedInBook)).toMatchObject({
      kind: 'wait',
    })
  })

  it('does not propose a root the guardian rejected', () => {
    expect(
      nextSubmitStep(state({ rejectedRoots: [proposal('aa').root] }), 100n, readyFor, signedInBook),
    ).toMatchObject({
      kind: 'wait',
      reason: 'signatures',
    })
  })
})
