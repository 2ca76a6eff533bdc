/**
 * A lost signature cannot stall the oracle: the submitter's book refuses what is too far ahead,
 * the signers re-publish what the chain waits on (resign.ts), and a wait the signers moved past
 * is reported (signature-stall.ts).
 */
import { describe, expect, it } from 'vitest'
import type { Hex, Proposal } from './proposal.ts'
import { resignAction } from './resign.ts'
import { SignatureBook } from './signature-book.ts'
import { signaturesMissing, trackSignatureWait } from './signature-stall.ts'
import { nextSubmitStep, type PoolChainState } from './submit-step.ts'

const A = '0x00000000000000000000000000000000000000a1' as Hex
const B = '0x00000000000000000000000000000000000000b2' as Hex
const C = '0x00000000000000000000000000000000000000c3' as Hex
const SIGNERS = [A, B, C]
const sig = (who: Hex): Hex => `0x${who.slice(2).repeat(4).slice(0, 130)}`
const proposal = (epoch: number, attempt = 0): Proposal => ({
  poolId: 'pool-a',
  epoch,
  attempt,
  root: `0x${String(epoch).padStart(64, '0')}`,
  revenueUnits: 1n,
  energyWh: 1n,
  leafCount: 1,
  treeHash: `0x${'11'.repeat(32)}`,
  archiveHash: `0x${'22'.repeat(32)}`,
})
const open = (nextEpoch: number): PoolChainState => ({
  poolId: 'pool-a',
  nextEpoch,
  attempt: 0,
  pending: undefined,
  rejectedRoots: [],
})

describe('resignAction', () => {
  const kept = { proposal: proposal(5), signature: sig(A), publishedAtMs: 1_000 }
  it('publishes again, at most once per interval, while the chain waits on the epoch', () => {
    expect(resignAction(kept, { status: 'none', attempt: 0 }, 30_999, 30_000)).toEqual({ kind: 'none' })
    expect(resignAction(kept, { status: 'none', attempt: 0 }, 31_000, 30_000)).toEqual({ kind: 'republish' })
  })
  it('sends nothing for a pending or final epoch', () => {
    expect(resignAction(kept, { status: 'pending', attempt: 0 }, 99_000, 30_000)).toEqual({ kind: 'none' })
    expect(resignAction(kept, { status: 'final', attempt: 0 }, 99_000, 30_000)).toEqual({ kind: 'none' })
  })
  it('signs the new attempt at once after a rejection', () => {
    expect(resignAction(kept, { status: 'rejected', attempt: 1 }, 1_000, 30_000)).toEqual({
      kind: 'sign-attempt',
      attempt: 1,
    })
  })
  it('signs the chain’s attempt again when a reorg undid a rejection (attack10 F8)', () => {
    const signedAfterRejection = { ...kept, proposal: proposal(5, 1) }
    expect(resignAction(signedAfterRejection, { status: 'none', attempt: 0 }, 1_000, 30_000)).toEqual({
      kind: 'sign-attempt',
      attempt: 0,
    })
  })
})

describe('signatures refused as too far ahead', () => {
  it('are taken once re-published when the chain reaches their epoch, and every epoch proceeds in order', () => {
    const book = new SignatureBook(['pool-a'], { epochsAhead: 2, finalEpochsKept: 0 })
    book.setSigners(SIGNERS)
    book.sync('pool-a', 0, 0)
    // The signers ran 10 epochs ahead of a submitter that fell behind: most is refused.
    const refused: number[] = []
    for (let epoch = 0; epoch < 10; epoch++)
      for (const signer of SIGNERS) {
        const r = book.add({ proposal: proposal(epoch), signer, signature: sig(signer) })
        if (r.kind === 'refused' && signer === A) refused.push(epoch)
      }
    expect(refused).toEqual([3, 4, 5, 6, 7, 8, 9])
    // The chain moves; each time it waits on an epoch, the signers publish it again.
    for (let next = 0; next < 10; next++) {
      book.sync('pool-a', next, 0)
      let step = nextSubmitStep(
        open(next),
        0n,
        (e, a, x) => book.ready('pool-a', e, a, SIGNERS, 2, x),
        () => true,
      )
      if (step.kind === 'wait') {
        for (const signer of SIGNERS) book.add({ proposal: proposal(next), signer, signature: sig(signer) })
        step = nextSubmitStep(
          open(next),
          0n,
          (e, a, x) => book.ready('pool-a', e, a, SIGNERS, 2, x),
          () => true,
        )
      }
      expect(step).toMatchObject({ kind: 'propose', epoch: next })
      // The book stays within its window.
      expect(book.size().epochs).toBeLessThanOrEqual(3)
    }
  })
})

describe('signaturesMissing', () => {
  const have = { proposals: [{ root: proposal(4).root, attempt: 0, signers: [A] }], refusals: [] }
  const waitStep = { kind: 'wait', poolId: 'pool-a', epoch: 4, reason: 'signatures' } as const
  it('reports a wait past the bound once the signers signed later epochs, naming pool, epoch and what it has', () => {
    const wait = trackSignatureWait(undefined, waitStep, 0, 1_000)
    // The same wait keeps its start; another epoch starts a new one; a non-wait ends it.
    expect(trackSignatureWait(wait, waitStep, 0, 9_000)).toBe(wait)
    expect(trackSignatureWait(wait, { ...waitStep, epoch: 5 }, 0, 9_000)).toEqual({
      epoch: 5,
      attempt: 0,
      sinceMs: 9_000,
    })
    expect(trackSignatureWait(wait, { ...waitStep, reason: 'challenge-window' }, 0, 9_000)).toBeUndefined()
    const base = { poolId: 'pool-a', wait, stallMs: 60_000, threshold: 2, have }
    expect(signaturesMissing({ ...base, nowMs: 60_999, laterSignedEpoch: 9 })).toBeUndefined()
    expect(signaturesMissing({ ...base, nowMs: 61_000, laterSignedEpoch: 4 })).toBeUndefined()
    expect(signaturesMissing({ ...base, nowMs: 61_000, laterSignedEpoch: undefined })).toBeUndefined()
    const missing = signaturesMissing({ ...base, nowMs: 61_000, laterSignedEpoch: 9 })
    expect(missing).toMatchObject({
      code: 'SIGNATURES_MISSING',
      poolId: 'pool-a',
      epoch: 4,
      attempt: 0,
      waitingMs: 60_000,
      threshold: 2,
      laterSignedEpoch: 9,
      have,
    })
    expect(missing?.message).toContain('epoch 4')
    expect(missing?.message).toContain('best proposal has 1')
  })

  it('after a guardian rejection, says the signers signed the rejected root again for attempt N (attack10b F5)', () => {
    const wait = trackSignatureWait(undefined, waitStep, 1, 1_000)
    const rejected = proposal(4).root
    const resigned = {
      proposals: [{ root: rejected, attempt: 1, signers: [...SIGNERS] }],
      refusals: [],
    }
    const missing = signaturesMissing({
      poolId: 'pool-a',
      wait,
      stallMs: 60_000,
      threshold: 2,
      have: resigned,
      nowMs: 385_000,
      laterSignedEpoch: 67,
      rejectedRoots: [rejected],
    })
    expect(missing?.attempt).toBe(1)
    expect(missing?.rejectedRootResigned).toEqual([rejected])
    expect(missing?.message).toContain('epoch 4 (attempt 1, after 1 guardian rejection(s))')
    expect(missing?.message).toContain(`with ${rejected}, the root the guardian rejected`)
    expect(missing?.message).toContain('needs 2 signatures on a corrected root (best other proposal has 0)')
    expect(missing?.message).not.toContain('best proposal has 3')
  })
})
