import { describe, expect, it } from 'vitest'
import type { TokenTransfer } from '../../../core/entitlement/index.ts'
import { fundingProblem, nextPublishStep } from './next-step.ts'
import { planEpoch, verifiedAt } from './plan-epoch.ts'

const A = '0x00000000000000000000000000000000000000a1'
const B = '0x00000000000000000000000000000000000000b2'
const C = '0x00000000000000000000000000000000000000c3'
const TREASURY = '0x00000000000000000000000000000000000000ee'
const DISTRIBUTOR = '0x00000000000000000000000000000000000000dd'
const ZERO = '0x0000000000000000000000000000000000000000'

const mint = (
  to: string,
  value: bigint,
  timestampS: number,
  blockNumber = BigInt(timestampS),
): TokenTransfer => ({
  from: ZERO,
  to,
  value,
  blockNumber,
  logIndex: 0,
  timestampS,
})
const verify = (account: string, timestampS: number, verified = true) => ({
  account,
  verified,
  blockNumber: BigInt(timestampS),
  logIndex: 1,
  timestampS,
})

const base = {
  poolId: 'gcl-pv',
  epoch: 0,
  revenueUnits: 1_000_001n,
  terms: { treasury: TREASURY, holdersBps: 8_000, splitMode: 'time-weighted' as const },
  window: { startS: 100, endS: 200 },
  distributor: DISTRIBUTOR,
  excludedAccounts: [],
}

describe('planEpoch', () => {
  it('splits the holders share by time-weighted balance and accumulates across epochs', () => {
    const transfers = [mint(A, 100n, 50), mint(B, 100n, 150)]
    const identityEvents = [verify(A, 10), verify(B, 10)]
    const first = planEpoch(new Map(), { ...base, transfers, identityEvents })
    // distributable = floor(1_000_001 × 0.8) = 800_000; A held 100 for 100 s, B 100 for 50 s:
    // 533_333.3 and 266_666.7, the one unit left over goes to the larger remainder (B).
    expect(first.entitlement.distributableUnits).toBe(800_000n)
    expect(first.cumulative.get(A)).toBe(533_333n)
    expect(first.cumulative.get(B)).toBe(266_667n)
    expect(first.cumulativeTotal).toBe(800_000n)
    const second = planEpoch(first.cumulative, {
      ...base,
      epoch: 1,
      revenueUnits: 500_000n,
      window: { startS: 200, endS: 300 },
      transfers,
      identityEvents,
    })
    expect(second.cumulative.get(A)).toBe(533_333n + 200_000n)
    expect(second.cumulative.get(B)).toBe(266_667n + 200_000n)
    expect(second.leaves.map((l) => l.account)).toEqual([A, B])
  })

  it('excludes the treasury, the distributor, configured and unverified accounts, and reports their part', () => {
    const transfers = [
      mint(A, 100n, 0),
      mint(TREASURY, 100n, 0),
      mint(DISTRIBUTOR, 100n, 0),
      mint(B, 100n, 0),
      mint(C, 100n, 0),
    ]
    // B is unverified before the window ends; C is excluded by configuration.
    const identityEvents = [verify(A, 0), verify(B, 0), verify(B, 150, false), verify(C, 0)]
    const plan = planEpoch(new Map(), {
      ...base,
      revenueUnits: 1_000_000n,
      transfers,
      identityEvents,
      excludedAccounts: [C],
    })
    expect([...plan.cumulative.keys()]).toEqual([A])
    expect(plan.cumulative.get(A)).toBe(160_000n)
    const reasons = Object.fromEntries(plan.entitlement.excluded.map((x) => [x.account, x.reason]))
    expect(reasons).toEqual({
      [B]: 'unverified',
      [C]: 'configured',
      [DISTRIBUTOR]: 'distributor',
      [TREASURY]: 'treasury',
    })
    expect(plan.entitlement.withheldUnits).toBe(640_000n)
    expect(plan.entitlement.distributedUnits + plan.entitlement.withheldUnits).toBe(800_000n)
  })

  it('ignores transfers at or after the window end, and verification after it', () => {
    const plan = planEpoch(new Map(), {
      ...base,
      transfers: [mint(A, 100n, 0), mint(B, 1_000n, 200)],
      identityEvents: [verify(A, 0), verify(B, 0)],
    })
    expect(plan.cumulative.get(A)).toBe(800_000n)
    expect(plan.cumulative.has(B)).toBe(false)
    expect(verifiedAt([verify(A, 250)], 200).get(A)).toBeUndefined()
  })

  it('gives the same leaves whatever order the logs come in', () => {
    const transfers = [mint(A, 7n, 120), mint(B, 3n, 110), mint(C, 11n, 130)]
    const identityEvents = [verify(A, 0), verify(B, 0), verify(C, 0)]
    const one = planEpoch(new Map(), { ...base, transfers, identityEvents })
    const two = planEpoch(new Map(), {
      ...base,
      transfers: [...transfers].reverse(),
      identityEvents: [...identityEvents].reverse(),
    })
    expect(two.leaves).toEqual(one.leaves)
  })
})

describe('nextPublishStep', () => {
  const state = { nextEpoch: 3, totalFunded: 0n, paused: false }
  const window = { startS: 100, endS: 200 }
  it('publishes only a final epoch whose window the chain has passed, never while paused', () => {
    expect(nextPublishStep({ ...state, paused: true }, true, window, 500)).toMatchObject({
      kind: 'wait',
      reason: 'paused',
    })
    expect(nextPublishStep(state, false, window, 500)).toMatchObject({
      kind: 'wait',
      reason: 'oracle-not-final',
    })
    expect(nextPublishStep(state, true, window, 199)).toMatchObject({
      kind: 'wait',
      reason: 'window-open',
      untilS: 200,
    })
    expect(nextPublishStep(state, true, window, 200)).toEqual({ kind: 'publish', epoch: 3 })
  })
  it('says what to do when the treasury cannot fund the epoch', () => {
    expect(fundingProblem(10n, { address: TREASURY, balance: 5n, allowance: 100n })).toMatch(
      /transfer at least 5 more/,
    )
    expect(fundingProblem(10n, { address: TREASURY, balance: 50n, allowance: 3n })).toMatch(
      /approve the distributor/,
    )
    expect(fundingProblem(10n, { address: TREASURY, balance: 10n, allowance: 10n })).toBeUndefined()
  })
})
