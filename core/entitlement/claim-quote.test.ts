import { describe, expect, it } from 'vitest'
import { buildHolderTree } from '../merkle/index.ts'
import { quoteClaim } from './claim-quote.ts'

const A = `0x${'a1'.repeat(20)}` as const
const B = `0x${'b2'.repeat(20)}` as const
const tree = buildHolderTree([
  { poolId: 'p', account: A, cumulativeAmount: 500n },
  { poolId: 'p', account: B, cumulativeAmount: 300n },
])
const ok = { verified: true, paused: false }

describe('quoteClaim', () => {
  it('offers what is owed to a verified holder, with a proof', () => {
    const q = quoteClaim(tree, A.toUpperCase().replace('0X', '0x'), 200n, ok)
    expect(q).toMatchObject({ owedUnits: 300n, claimableUnits: 300n, blockedBy: undefined, inTree: true })
    expect(q.proof.length).toBeGreaterThan(0)
  })

  it('shows the owed amount but nothing claimable to an unverified holder, saying why', () => {
    const q = quoteClaim(tree, B, 0n, { verified: false, paused: false })
    expect(q).toMatchObject({
      owedUnits: 300n,
      claimableUnits: 0n,
      blockedBy: 'NOT_VERIFIED',
      verified: false,
    })
  })

  it('blocks everyone while paused, and names the pause before the verification', () => {
    expect(quoteClaim(tree, A, 0n, { verified: true, paused: true }).blockedBy).toBe('PAUSED')
    expect(quoteClaim(tree, A, 0n, { verified: false, paused: true }).blockedBy).toBe('PAUSED')
  })

  it('blocks nothing when nothing is owed (claimed in full, or not in the tree)', () => {
    expect(quoteClaim(tree, A, 500n, { verified: false, paused: true })).toMatchObject({
      owedUnits: 0n,
      claimableUnits: 0n,
      blockedBy: undefined,
    })
    expect(quoteClaim(tree, `0x${'cc'.repeat(20)}`, 0n, { verified: false, paused: false })).toMatchObject({
      inTree: false,
      owedUnits: 0n,
      blockedBy: undefined,
      proof: [],
    })
    expect(quoteClaim(undefined, A, 0n, ok)).toMatchObject({ inTree: false, cumulativeAmount: 0n })
  })
})
