import { describe, expect, it } from 'vitest'
import type { Reading } from '../telemetry/types.ts'
import {
  DEFAULT_SEQUENCE_RULES,
  DeviceSequence,
  isSuccessor,
  readingHash,
  SEQUENCE_REASON_CODES,
  type SeqPosition,
  type SequenceReason,
  valueProblem,
} from './sequence.ts'

const NOON = Date.parse('2026-06-01T12:00:00+08:00')
const pv = (seq: number, ts: number, registerWh: number): Reading => ({
  type: 'pv.inverter',
  seq,
  ts,
  registerWh,
  acPowerW: 6000,
  irradianceWm2: 600,
  status: 'MPPT',
})
const rules = { ...DEFAULT_SEQUENCE_RULES, recentWindow: 4, maxSeqJump: 1000 }

/** A device that accepted seqs 1..n of boot 0, one a minute. */
function accepted(n: number) {
  const seq = new DeviceSequence(rules)
  for (let s = 1; s <= n; s++)
    seq.recordAccepted({ boot: 0, seq: s }, readingHash(pv(s, NOON + s * 60_000, s * 100)), NOON + s * 60_000)
  const position: SeqPosition = { boot: 0, seq: n }
  return { seq, position, accountingTs: NOON + n * 60_000 }
}

function verdict(n: number, boot: number, reading: Reading) {
  const { seq, position, accountingTs } = accepted(n)
  return seq.classify(
    position,
    accountingTs,
    { boot, seq: reading.seq },
    reading,
    readingHash(reading),
    undefined,
  )
}
const reasonOf = (v: ReturnType<typeof verdict>) => (v.kind === 'quarantine' ? v.reason : v.kind)

describe('sequence rules: every reason', () => {
  const cases: Record<SequenceReason, () => string> = {
    SEQ_JUMP: () => reasonOf(verdict(10, 0, pv(5000, NOON + 11 * 60_000, 1100))),
    BOOT_REGRESSED: () => {
      const { seq } = accepted(10)
      const r = pv(3, NOON + 20 * 60_000, 2000)
      return reasonOf(
        seq.classify(
          { boot: 2, seq: 5 },
          NOON + 11 * 60_000,
          { boot: 1, seq: 3 },
          r,
          readingHash(r),
          undefined,
        ),
      )
    },
    CONFLICTING_DUPLICATE: () => reasonOf(verdict(10, 0, pv(9, NOON + 9 * 60_000, 901))),
    SEQ_REWOUND: () => reasonOf(verdict(10, 0, pv(2, NOON + 11 * 60_000, 1100))),
    GAP_GIVEN_UP: () => {
      const { seq } = accepted(10)
      seq.recordGivenUp({ boot: 0, seq: 10 }, { boot: 0, seq: 14 })
      const late = pv(12, NOON + 12 * 60_000, 1200)
      return reasonOf(
        seq.classify(
          { boot: 0, seq: 14 },
          NOON + 14 * 60_000,
          { boot: 0, seq: 12 },
          late,
          readingHash(late),
          undefined,
        ),
      )
    },
    VALUE_OUT_OF_RANGE: () => (valueProblem(pv(11, NOON, 2 ** 53), 0) ? 'VALUE_OUT_OF_RANGE' : 'accepted'),
  }
  for (const [reason, run] of Object.entries(cases)) it(reason, () => expect(run()).toBe(reason))
  it('covers every code', () => expect(Object.keys(cases).sort()).toEqual([...SEQUENCE_REASON_CODES].sort()))
})

describe('sequence rules', () => {
  it('orders by (boot, seq): a higher boot restarts at seq 1', () => {
    expect(isSuccessor(undefined, { boot: 0, seq: 1 })).toBe(true)
    expect(isSuccessor(undefined, { boot: 0, seq: 2 })).toBe(false)
    expect(isSuccessor({ boot: 0, seq: 7 }, { boot: 0, seq: 8 })).toBe(true)
    expect(isSuccessor({ boot: 0, seq: 7 }, { boot: 1, seq: 1 })).toBe(true)
    expect(isSuccessor({ boot: 0, seq: 7 }, { boot: 3, seq: 1 })).toBe(true)
    expect(isSuccessor({ boot: 0, seq: 7 }, { boot: 1, seq: 2 })).toBe(false)
    expect(reasonOf(verdict(10, 1, pv(1, NOON + 11 * 60_000, 1100)))).toBe('ahead')
  })

  it('drops an identical replay in the window and compares content, not key order', () => {
    const r = pv(9, NOON + 9 * 60_000, 900)
    expect(verdict(10, 0, r)).toEqual({ kind: 'duplicate', stale: false })
    const reordered = Object.fromEntries(Object.entries(r).reverse()) as unknown as Reading
    expect(readingHash(reordered)).toBe(readingHash(r))
  })

  it('behind the window: device time at or before the accounting time is a replay, later is SEQ_REWOUND', () => {
    // Window of 4 holds seqs 7..10; seq 2 is behind it.
    expect(verdict(10, 0, pv(2, NOON + 2 * 60_000, 200))).toEqual({ kind: 'duplicate', stale: true })
    // Other content, but nothing to compare with: still a replay by the device-time rule.
    expect(verdict(10, 0, pv(2, NOON + 2 * 60_000, 999))).toEqual({ kind: 'duplicate', stale: true })
    expect(reasonOf(verdict(10, 0, pv(2, NOON + 10 * 60_000 + 1, 200)))).toBe('SEQ_REWOUND')
  })

  it('an earlier boot: a replay in the window is a duplicate, anything else BOOT_REGRESSED', () => {
    const seq = new DeviceSequence(rules)
    const last = pv(10, NOON + 10 * 60_000, 1000)
    seq.recordAccepted({ boot: 0, seq: 10 }, readingHash(last), last.ts)
    seq.recordAccepted({ boot: 1, seq: 1 }, readingHash(pv(1, NOON + 11 * 60_000, 1100)), NOON + 11 * 60_000)
    const position = { boot: 1, seq: 1 }
    const at = NOON + 11 * 60_000
    expect(seq.classify(position, at, { boot: 0, seq: 10 }, last, readingHash(last), undefined).kind).toBe(
      'duplicate',
    )
    const straggler = pv(9, NOON + 9 * 60_000, 900)
    expect(
      reasonOf(seq.classify(position, at, { boot: 0, seq: 9 }, straggler, readingHash(straggler), undefined)),
    ).toBe('duplicate')
    const neverSeen = pv(11, NOON + 10 * 60_000 + 30_000, 1050)
    expect(
      reasonOf(
        seq.classify(position, at, { boot: 0, seq: 11 }, neverSeen, readingHash(neverSeen), undefined),
      ),
    ).toBe('BOOT_REGRESSED')
  })

  it('a seq far out of line is quarantined until the device confirms the far line', () => {
    const { seq, position, accountingTs } = accepted(10)
    const far = (s: number) => {
      const r = pv(s, NOON + s * 1000, 1100)
      return seq.classify(position, accountingTs, { boot: 0, seq: s }, r, readingHash(r), undefined)
    }
    expect(reasonOf(far(1_000_000))).toBe('SEQ_JUMP')
    // A genuine reading in line in between breaks the far line.
    const inLine = pv(11, NOON + 11 * 60_000, 1100)
    expect(
      seq.classify(position, accountingTs, { boot: 0, seq: 11 }, inLine, readingHash(inLine), undefined).kind,
    ).toBe('ahead')
    expect(reasonOf(far(1_000_001))).toBe('SEQ_JUMP')
    expect(reasonOf(far(1_000_002))).toBe('SEQ_JUMP')
    expect(reasonOf(far(1_000_003))).toBe('adopt')
  })

  it('a waiting reading with the same key: identical is a duplicate, other content a conflict', () => {
    const { seq, position, accountingTs } = accepted(10)
    const waiting = pv(13, NOON + 13 * 60_000, 1300)
    const other = pv(13, NOON + 13 * 60_000, 1301)
    const key = { boot: 0, seq: 13 }
    expect(
      seq.classify(position, accountingTs, key, waiting, readingHash(waiting), readingHash(waiting)).kind,
    ).toBe('duplicate')
    expect(
      reasonOf(seq.classify(position, accountingTs, key, other, readingHash(other), readingHash(waiting))),
    ).toBe('CONFLICTING_DUPLICATE')
  })

  it('refuses values InfluxDB int64 fields or exact sums cannot hold', () => {
    expect(valueProblem(pv(1, NOON, 2 ** 50), 0)).toBeUndefined()
    expect(valueProblem(pv(1, NOON, 2 ** 50 + 1), 0)).toMatch(/registerWh/)
    expect(valueProblem(pv(2 ** 53, NOON, 1), 0)).toMatch(/seq/)
    expect(valueProblem(pv(1, NOON, 1), -1)).toMatch(/boot/)
    expect(valueProblem(pv(1, 5e15, 1), 0)).toMatch(/ts/)
    const swap: Reading = {
      type: 'swap.slots',
      seq: 1,
      ts: NOON,
      registerWh: 1,
      swapCount: 2 ** 60,
      slots: [],
    }
    expect(valueProblem(swap, 0)).toMatch(/swapCount/)
  })
})
