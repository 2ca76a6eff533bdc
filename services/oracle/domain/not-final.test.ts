import { describe, expect, it } from 'vitest'
import { explainNotFinal } from './not-final.ts'

const root = `0x${'11'.repeat(32)}` as const
const pool = { firstEpoch: 2, nextEpoch: 5 }
const at = (sec: number) => new Date(sec * 1000).toISOString()

describe('why verify cannot check an epoch yet', () => {
  it('a pending epoch names its window end and how long to wait, and the latest final epoch', () => {
    const e = explainNotFinal({
      poolId: 'p',
      epoch: 5,
      pool,
      record: { status: 'pending', attempt: 1, root, finalizesAtSec: 1_900_000_600n },
      nowSec: 1_900_000_000n,
    })
    expect(e).toMatchObject({ state: 'pending', latestFinalEpoch: 4, finalizesAt: at(1_900_000_600) })
    expect(e.summary).toBe(
      `p epoch 5 is pending (attempt 1): proposed, in its challenge window until ${at(1_900_000_600)}`,
    )
    expect(e.hint).toContain(`Wait until ${at(1_900_000_600)} (600 s from now)`)
    expect(e.hint).toContain('the latest final epoch of p is 4: verify that one with --epoch 4')
  })

  it('a pending epoch past its window says finalize is due, not to wait', () => {
    const e = explainNotFinal({
      poolId: 'p',
      epoch: 5,
      pool,
      record: { status: 'pending', attempt: 0, root, finalizesAtSec: 1_900_000_000n },
      nowSec: 1_900_000_030n,
    })
    expect(e.state).toBe('window-passed')
    expect(e.summary).toContain('ended at 2030-03-17T17:46:40.000Z, 30 s ago, but it is not finalized yet')
    expect(e.hint).toContain('sends finalize on its next tick')
  })

  it('a rejected epoch names the attempt a corrected root comes under', () => {
    const e = explainNotFinal({
      poolId: 'p',
      epoch: 5,
      pool,
      record: { status: 'rejected', attempt: 1, root, finalizesAtSec: 0n },
      nowSec: 0n,
    })
    expect(e.state).toBe('rejected')
    expect(e.summary).toBe('p epoch 5 was rejected by the guardian (attempt 0); no root is pending')
    expect(e.hint).toContain('corrected root (attempt 1)')
  })

  it('an epoch not proposed yet, one before the pool, an unknown pool, a pool without a final epoch', () => {
    const none = { status: 'none', attempt: 0, root, finalizesAtSec: 0n } as const
    const ahead = explainNotFinal({ poolId: 'p', epoch: 9, pool, record: none, nowSec: 0n })
    expect(ahead.summary).toBe("p epoch 9 is not proposed yet: the pool's next epoch to propose is 5")
    expect(ahead.hint).toContain('--epoch 4')
    expect(explainNotFinal({ poolId: 'p', epoch: 5, pool, record: none, nowSec: 0n }).summary).toContain(
      'it is the next epoch the oracle signers propose',
    )
    expect(explainNotFinal({ poolId: 'p', epoch: 1, pool, record: none, nowSec: 0n }).state).toBe(
      'before-first-epoch',
    )
    expect(explainNotFinal({ poolId: 'q', epoch: 1, pool: undefined, record: none, nowSec: 0n }).state).toBe(
      'unknown-pool',
    )
    const fresh = explainNotFinal({
      poolId: 'p',
      epoch: 2,
      pool: { firstEpoch: 2, nextEpoch: 2 },
      record: none,
      nowSec: 0n,
    })
    expect(fresh.latestFinalEpoch).toBeUndefined()
    expect(fresh.hint).toContain('no epoch of p is final yet')
  })
})
