import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  accumulate,
  allocateLargestRemainder,
  type BalanceChange,
  balanceChangesFromTransfers,
  computeEpochEntitlement,
  type EpochEntitlementInput,
  type ExclusionReason,
  epochChainWindow,
  holderWeights,
  ZERO_ADDRESS,
} from './index.ts'

const account = fc
  .uint8Array({ minLength: 20, maxLength: 20 })
  .map((b) => `0x${Buffer.from(b).toString('hex')}`)
const weighted = fc.uniqueArray(fc.record({ account, weight: fc.bigInt({ min: 0n, max: 10n ** 24n }) }), {
  selector: (e) => e.account,
  maxLength: 40,
})
const amount = fc.bigInt({ min: 0n, max: 10n ** 20n })

const sum = (xs: readonly bigint[]) => xs.reduce((a, b) => a + b, 0n)

describe('allocateLargestRemainder', () => {
  it('sums exactly to the amount (when any weight is positive), never negative, each within 1 of its quota', () => {
    fc.assert(
      fc.property(amount, weighted, (amt, entries) => {
        const shares = allocateLargestRemainder(amt, entries)
        const total = sum(entries.map((e) => e.weight))
        expect(sum(shares)).toBe(total === 0n ? 0n : amt)
        entries.forEach((e, i) => {
          expect(shares[i]! >= 0n).toBe(true)
          if (total > 0n) {
            const floor = (amt * e.weight) / total
            expect(shares[i]! - floor >= 0n && shares[i]! - floor <= 1n).toBe(true)
          }
        })
      }),
    )
  })

  it('does not depend on the order of the holders', () => {
    fc.assert(
      fc.property(
        amount,
        weighted.chain((es) => fc.tuple(fc.constant(es), fc.shuffledSubarray(es, { minLength: es.length }))),
        (amt, [a, b]) => {
          const sa = allocateLargestRemainder(amt, a)
          const sb = allocateLargestRemainder(amt, b)
          const byAccount = new Map(a.map((e, i) => [e.account, sa[i]]))
          b.forEach((e, i) => {
            expect(sb[i]).toBe(byAccount.get(e.account))
          })
        },
      ),
    )
  })

  it('a holder’s share never falls when only their weight rises', () => {
    fc.assert(
      fc.property(
        amount,
        weighted.filter((es) => es.length > 0),
        fc.nat(),
        fc.bigInt({ min: 1n, max: 10n ** 24n }),
        (amt, entries, pick, raise) => {
          const i = pick % entries.length
          const before = allocateLargestRemainder(amt, entries)[i]!
          const raised = entries.map((e, j) => (j === i ? { ...e, weight: e.weight + raise } : e))
          expect(allocateLargestRemainder(amt, raised)[i]! >= before).toBe(true)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('breaks equal remainders by account, lowest first', () => {
    const shares = allocateLargestRemainder(2n, [
      { account: '0x03', weight: 1n },
      { account: '0x01', weight: 1n },
      { account: '0x02', weight: 1n },
    ])
    expect(shares).toEqual([0n, 1n, 1n])
  })
})

/** A random share-token history: mints, then transfers between a few accounts, in 1..n blocks. */
const history = fc
  .record({
    accounts: fc.uniqueArray(account, { minLength: 1, maxLength: 6 }),
    steps: fc.array(
      fc.record({
        from: fc.nat(),
        to: fc.nat(),
        frac: fc.integer({ min: 0, max: 100 }),
        dt: fc.nat({ max: 50 }),
      }),
      {
        maxLength: 30,
      },
    ),
    mints: fc.array(fc.bigInt({ min: 1n, max: 10n ** 12n }), { minLength: 6, maxLength: 6 }),
  })
  .map(({ accounts, steps, mints }) => {
    const balances = new Map<string, bigint>()
    const transfers = accounts.map((to, i) => {
      balances.set(to, mints[i]!)
      return { from: ZERO_ADDRESS, to, value: mints[i]!, blockNumber: 1n, logIndex: i, timestampS: 990 }
    })
    let t = 1000
    let block = 2n
    for (const s of steps) {
      const from = accounts[s.from % accounts.length]!
      const to = accounts[s.to % accounts.length]!
      const value = ((balances.get(from) ?? 0n) * BigInt(s.frac)) / 100n
      balances.set(from, balances.get(from)! - value)
      balances.set(to, (balances.get(to) ?? 0n) + value)
      t += s.dt
      transfers.push({ from, to, value, blockNumber: block++, logIndex: 0, timestampS: t })
    }
    return { accounts, transfers, endS: t + 1 }
  })

const input = (
  changes: BalanceChange[],
  window: { startS: number; endS: number },
  over: Partial<EpochEntitlementInput> = {},
) => ({
  poolId: 'pool-a',
  epoch: 3,
  revenueUnits: 123_456_789n,
  terms: { holdersShareBps: 7_000 },
  window,
  changes,
  exclusion: () => undefined,
  ...over,
})

describe('holder weights and epoch entitlement', () => {
  it('sums exactly: distributed + withheld + unallocated = distributable; + operator = revenue', () => {
    fc.assert(
      fc.property(history, fc.nat(), fc.boolean(), fc.boolean(), (h, excludedPick, byEnd, toHolders) => {
        const changes = balanceChangesFromTransfers(h.transfers)
        const excludedAccount = h.accounts[excludedPick % h.accounts.length]
        const e = computeEpochEntitlement(
          input(
            changes,
            { startS: 1000, endS: h.endS },
            {
              terms: {
                holdersShareBps: 7_000,
                mode: byEnd ? 'end-balance' : 'time-weighted',
                excludedPartTo: toHolders ? 'eligible-holders' : 'operator',
              },
              exclusion: (a): ExclusionReason | undefined => (a === excludedAccount ? 'treasury' : undefined),
            },
          ),
        )
        expect(e.distributableUnits).toBe((123_456_789n * 7_000n) / 10_000n)
        expect(e.distributableUnits + e.operatorUnits).toBe(e.revenueUnits)
        expect(e.distributedUnits + e.withheldUnits + e.unallocatedUnits).toBe(e.distributableUnits)
        expect(sum(e.allocations.map((a) => a.amountUnits))).toBe(e.distributedUnits)
        for (const a of [...e.allocations, ...e.excluded]) expect(a.amountUnits >= 0n).toBe(true)
        expect(e.allocations.some((a) => a.account === excludedAccount)).toBe(false)
        for (const x of e.excluded) expect(x).toMatchObject({ account: excludedAccount, reason: 'treasury' })
      }),
    )
  })

  it('time-weighting a constant balance splits as the snapshot does', () => {
    fc.assert(
      fc.property(history, fc.integer({ min: 1, max: 10_000 }), (h, length) => {
        // every change before the window: balances are constant inside it
        const changes = balanceChangesFromTransfers(h.transfers)
        const window = { startS: h.endS, endS: h.endS + length }
        const tw = computeEpochEntitlement(input(changes, window))
        const snap = computeEpochEntitlement(
          input(changes, window, { terms: { holdersShareBps: 7_000, mode: 'end-balance' } }),
        )
        expect(tw.allocations.map((a) => [a.account, a.amountUnits])).toEqual(
          snap.allocations.map((a) => [a.account, a.amountUnits]),
        )
      }),
    )
  })

  it('weights are Σ balance × seconds in [start, end): a buyer in the last second weighs one second', () => {
    const a = '0x00000000000000000000000000000000000000aa'
    const b = '0x00000000000000000000000000000000000000bb'
    const changes = balanceChangesFromTransfers([
      { from: ZERO_ADDRESS, to: a, value: 100n, blockNumber: 1n, logIndex: 0, timestampS: 10 },
      { from: a, to: b, value: 60n, blockNumber: 5n, logIndex: 0, timestampS: 150 },
      { from: b, to: a, value: 60n, blockNumber: 9n, logIndex: 0, timestampS: 199 },
      { from: a, to: b, value: 100n, blockNumber: 12n, logIndex: 0, timestampS: 200 },
    ])
    const tw = holderWeights(changes, { startS: 100, endS: 200 })
    expect(tw.get(a)).toBe(100n * 50n + 40n * 49n + 100n * 1n)
    expect(tw.get(b)).toBe(60n * 49n)
    expect(holderWeights(changes, { startS: 100, endS: 200 }, 'end-balance')).toEqual(new Map([[a, 100n]]))
    expect(() =>
      holderWeights(
        balanceChangesFromTransfers([
          { from: a, to: b, value: 1n, blockNumber: 1n, logIndex: 0, timestampS: 1 },
        ]),
        { startS: 0, endS: 10 },
      ),
    ).toThrow(expect.objectContaining({ code: 'ENTITLEMENT_INPUT_INVALID' }))
  })

  it('an excluded account’s part is withheld and reported, or (configured) split among the others', () => {
    const [a, b, t] = ['0x01', '0x02', '0x03'].map((x) => x.padEnd(42, '0'))
    const changes = balanceChangesFromTransfers(
      [a, b, t].map((to, i) => ({
        from: ZERO_ADDRESS,
        to: to!,
        value: 100n,
        blockNumber: 1n,
        logIndex: i,
        timestampS: 0,
      })),
    )
    const exclusion = (x: string): ExclusionReason | undefined => (x === t ? 'treasury' : undefined)
    const withheld = computeEpochEntitlement(
      input(
        changes,
        { startS: 0, endS: 10 },
        { revenueUnits: 300n, terms: { holdersShareBps: 10_000 }, exclusion },
      ),
    )
    expect(withheld.allocations.map((x) => x.amountUnits)).toEqual([100n, 100n])
    expect(withheld.excluded).toEqual([
      { account: t, weight: 1000n, amountUnits: 100n, reason: 'treasury', goesTo: 'operator' },
    ])
    expect(withheld.withheldUnits).toBe(100n)
    const shared = computeEpochEntitlement(
      input(
        changes,
        { startS: 0, endS: 10 },
        {
          revenueUnits: 300n,
          terms: { holdersShareBps: 10_000, excludedPartTo: 'eligible-holders' },
          exclusion,
        },
      ),
    )
    expect(shared.allocations.map((x) => x.amountUnits)).toEqual([150n, 150n])
    expect(shared.excluded[0]).toMatchObject({ amountUnits: 100n, goesTo: 'eligible-holders' })
    const nobody = computeEpochEntitlement(input([], { startS: 0, endS: 10 }))
    expect(nobody.unallocatedUnits).toBe(nobody.distributableUnits)
  })

  it('cumulative amounts add up across epochs and keep accounts with nothing new', () => {
    const first = accumulate(new Map(), {
      allocations: [
        { account: 'a', weight: 1n, amountUnits: 5n },
        { account: 'b', weight: 1n, amountUnits: 0n },
      ],
    })
    const second = accumulate(first, { allocations: [{ account: 'b', weight: 1n, amountUnits: 7n }] })
    expect(second).toEqual(
      new Map([
        ['a', 5n],
        ['b', 7n],
      ]),
    )
  })
})

describe('epoch → chain window', () => {
  const grid = { genesisMs: Date.UTC(2026, 5, 1), epochLengthMs: 86_400_000, intervalMs: 300_000 }
  it('is the epoch itself in seconds at speedup 1, and tiles exactly when accelerated', () => {
    const real = { deviceGenesisMs: grid.genesisMs, chainGenesisS: grid.genesisMs / 1000, speedup: 1 }
    expect(epochChainWindow(grid, real, 2)).toEqual({
      startS: grid.genesisMs / 1000 + 2 * 86_400,
      endS: grid.genesisMs / 1000 + 3 * 86_400,
    })
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 86_400 }), fc.nat({ max: 1000 }), (speedup, n) => {
        const clock = { deviceGenesisMs: grid.genesisMs, chainGenesisS: 1_800_000_000, speedup }
        expect(epochChainWindow(grid, clock, n).endS).toBe(epochChainWindow(grid, clock, n + 1).startS)
      }),
    )
    expect(() =>
      epochChainWindow({ ...grid, epochLengthMs: 300_000 }, { ...real, speedup: 3600 }, 1),
    ).toThrow(expect.objectContaining({ code: 'ENTITLEMENT_INPUT_INVALID' }))
  })
})
