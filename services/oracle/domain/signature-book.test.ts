import { describe, expect, it } from 'vitest'
import { type Hex, type Proposal, ZERO_HASH } from './proposal.ts'
import { SignatureBook } from './signature-book.ts'
import { nextSubmitStep, type PoolChainState } from './submit-step.ts'

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
const sig = (who: Hex): Hex => `0x${who.slice(2).repeat(3).slice(0, 130)}`

describe('SignatureBook', () => {
  it('is ready only when threshold current signers signed the same proposal, signers ascending', () => {
    const book = new SignatureBook()
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
    const book = new SignatureBook()
    expect(book.add({ proposal: proposal('aa'), signer: A, signature: sig(A) })).toBeUndefined()
    const disagreement = book.add({ proposal: proposal('bb'), signer: B, signature: sig(B) })
    expect(disagreement?.proposals.map((p) => p.root)).toEqual([proposal('aa').root, proposal('bb').root])
    expect(disagreement?.proposals[1]?.signers).toEqual([B.toLowerCase()])
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)).toBeUndefined()
    // Same root, another archive hash: still a different proposal.
    const other = book.add({
      proposal: proposal('aa', { archiveHash: ZERO_HASH }),
      signer: C,
      signature: sig(C),
    })
    expect(other?.proposals).toHaveLength(3)
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)).toBeUndefined()
    // A second signature on a proposal already seen is no new disagreement.
    expect(book.add({ proposal: proposal('bb'), signer: C, signature: sig(C) })).toBeUndefined()
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2)?.proposal.root).toBe(proposal('bb').root)
  })

  it('skips rejected roots', () => {
    const book = new SignatureBook()
    for (const s of [A, B]) book.add({ proposal: proposal('aa'), signer: s, signature: sig(s) })
    expect(book.ready('pool-a', 3, 0, SIGNERS, 2, new Set([proposal('aa').root]))).toBeUndefined()
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
  const book = new SignatureBook()
  for (const s of [A, B]) book.add({ proposal: proposal('aa'), signer: s, signature: sig(s) })
  const readyFor = (epoch: number, attempt: number, rejected: ReadonlySet<string>) =>
    book.ready('pool-a', epoch, attempt, SIGNERS, 2, rejected)

  it('proposes the next epoch once signed, and never while a root is pending', () => {
    expect(nextSubmitStep(state(), 100n, readyFor)).toMatchObject({ kind: 'propose', epoch: 3 })
    expect(nextSubmitStep(state({ nextEpoch: 4 }), 100n, readyFor)).toMatchObject({
      kind: 'wait',
      reason: 'signatures',
      epoch: 4,
    })
    const pending = { epoch: 3, root: proposal('aa').root, finalizableAtSec: 160n }
    expect(nextSubmitStep(state({ pending }), 159n, readyFor)).toMatchObject({
      kind: 'wait',
      reason: 'challenge-window',
      untilSec: 160n,
    })
    expect(nextSubmitStep(state({ pending }), 160n, readyFor)).toMatchObject({ kind: 'finalize', epoch: 3 })
  })

  it('takes only signatures made for the current attempt', () => {
    expect(nextSubmitStep(state({ attempt: 1 }), 100n, readyFor)).toMatchObject({ kind: 'wait' })
  })

  it('does not propose a root the guardian rejected', () => {
    expect(nextSubmitStep(state({ rejectedRoots: [proposal('aa').root] }), 100n, readyFor)).toMatchObject({
      kind: 'wait',
      reason: 'signatures',
    })
  })
})
