import { describe, expect, it } from 'vitest'
import { type ConsumerObservation, consumerVerdict, unconsumedRecords } from './consumer-watch.ts'

const limits = { stallMs: 30_000, exitMs: 180_000 }
const joinedAt = 1_000_000
const joined = (o: Partial<ConsumerObservation> = {}): ConsumerObservation => ({
  phase: { kind: 'joined', sinceMs: joinedAt },
  lastFetchMs: joinedAt,
  lastBatchEndMs: undefined,
  batchRunningSinceMs: undefined,
  handlerWaitsOnDependency: false,
  lagRecords: 0n,
  ...o,
})

describe('consumerVerdict', () => {
  it('a member that fetches is healthy, with or without records to read', () => {
    expect(consumerVerdict(joined({ lastFetchMs: joinedAt + 59_000 }), limits, joinedAt + 60_000)).toEqual({
      state: 'healthy',
    })
    expect(
      consumerVerdict(
        joined({ lastFetchMs: joinedAt + 59_000, lastBatchEndMs: joinedAt + 59_500, lagRecords: 12n }),
        limits,
        joinedAt + 60_000,
      ),
    ).toEqual({ state: 'healthy' })
  })

  it('no fetch answered for the stall bound: stalled; for the exit bound: exit', () => {
    const o = joined({ lastFetchMs: joinedAt + 10_000 })
    expect(consumerVerdict(o, limits, joinedAt + 10_000 + 29_999).state).toBe('healthy')
    const stalled = consumerVerdict(o, limits, joinedAt + 10_000 + 30_000)
    expect(stalled).toMatchObject({ state: 'stalled', code: 'CONSUMER_NO_FETCH', sinceMs: joinedAt + 10_000 })
    expect(consumerVerdict(o, limits, joinedAt + 10_000 + 179_999).state).toBe('stalled')
    expect(consumerVerdict(o, limits, joinedAt + 10_000 + 180_000)).toMatchObject({
      state: 'exit',
      code: 'CONSUMER_NO_FETCH',
      forMs: 180_000,
    })
  })

  it('fetches answered but lag left unconsumed for the stall bound: stalled, then exit', () => {
    const o = joined({ lastFetchMs: joinedAt + 200_000, lastBatchEndMs: joinedAt + 5_000, lagRecords: 40n })
    expect(consumerVerdict(o, limits, joinedAt + 34_999).state).toBe('healthy')
    expect(consumerVerdict(o, limits, joinedAt + 35_000)).toMatchObject({
      state: 'stalled',
      code: 'CONSUMER_LAG_UNCONSUMED',
      sinceMs: joinedAt + 5_000,
    })
    expect(consumerVerdict(o, limits, joinedAt + 185_000).state).toBe('exit')
  })

  it('no lag, or lag unknown, with fetches answered: healthy however long no batch came', () => {
    expect(
      consumerVerdict(joined({ lastFetchMs: joinedAt + 999_000 }), limits, joinedAt + 1_000_000).state,
    ).toBe('healthy')
    expect(
      consumerVerdict(
        joined({ lastFetchMs: joinedAt + 999_000, lagRecords: undefined }),
        limits,
        joinedAt + 1_000_000,
      ).state,
    ).toBe('healthy')
  })

  it('a batch handler waiting on the store is not a consumer stall (the store health says so)', () => {
    const o = joined({ batchRunningSinceMs: joinedAt, handlerWaitsOnDependency: true, lagRecords: 500n })
    expect(consumerVerdict(o, limits, joinedAt + 600_000)).toEqual({ state: 'healthy' })
  })

  it('a batch handler running the stall bound and not waiting on the store: stuck, then exit', () => {
    const o = joined({ batchRunningSinceMs: joinedAt + 1_000, lagRecords: 500n })
    expect(consumerVerdict(o, limits, joinedAt + 30_999).state).toBe('healthy')
    expect(consumerVerdict(o, limits, joinedAt + 31_000)).toMatchObject({
      state: 'stalled',
      code: 'CONSUMER_BATCH_STUCK',
      sinceMs: joinedAt + 1_000,
    })
    expect(consumerVerdict(o, limits, joinedAt + 181_000).state).toBe('exit')
  })

  it('out of the group (joining, rebalancing): stalled at once, exit after the exit bound of joining', () => {
    const o = joined({ phase: { kind: 'joining', sinceMs: joinedAt } })
    expect(consumerVerdict(o, limits, joinedAt + 1)).toMatchObject({
      state: 'stalled',
      code: 'CONSUMER_NOT_IN_GROUP',
    })
    expect(consumerVerdict(o, limits, joinedAt + 180_000)).toMatchObject({
      state: 'exit',
      code: 'CONSUMER_NOT_IN_GROUP',
    })
  })

  it('crashed or stopped unasked: stalled at once with the error, exit after the bound', () => {
    const crashed = joined({
      phase: { kind: 'crashed', sinceMs: joinedAt, error: 'Connection timeout', restarting: false },
    })
    const verdict = consumerVerdict(crashed, limits, joinedAt)
    expect(verdict).toMatchObject({ state: 'stalled', code: 'CONSUMER_CRASHED' })
    expect(verdict.state !== 'healthy' && verdict.reason).toContain('Connection timeout')
    expect(consumerVerdict(crashed, limits, joinedAt + 180_000).state).toBe('exit')
    const stopped = joined({ phase: { kind: 'stopped', sinceMs: joinedAt } })
    expect(consumerVerdict(stopped, limits, joinedAt + 5_000)).toMatchObject({
      state: 'stalled',
      code: 'CONSUMER_STOPPED',
    })
  })

  it('a rejoin restarts the clock: the stall counts from the join, not from fetches before it', () => {
    const o = joined({ phase: { kind: 'joined', sinceMs: joinedAt + 100_000 }, lastFetchMs: joinedAt })
    expect(consumerVerdict(o, limits, joinedAt + 120_000).state).toBe('healthy')
    expect(consumerVerdict(o, limits, joinedAt + 130_000)).toMatchObject({
      code: 'CONSUMER_NO_FETCH',
      sinceMs: joinedAt + 100_000,
    })
  })
})

describe('unconsumedRecords', () => {
  const ends = [
    { partition: 0, low: 0n, high: 100n },
    { partition: 1, low: 50n, high: 80n },
    { partition: 2, low: 0n, high: 10n },
  ]
  it('counts from the consumed position, else the committed offset, else the log start', () => {
    // p0 consumed to 90 (10 left); p1 committed 70 (10 left); p2 never read nor committed (10).
    expect(unconsumedRecords(ends, [0, 1, 2], new Map([[0, 90n]]), new Map([[1, 70n]]))).toBe(30n)
  })
  it('only the partitions asked for; a position before the log start counts from it; -1 is no commit', () => {
    expect(unconsumedRecords(ends, [1], new Map(), new Map([[1, 10n]]))).toBe(30n)
    expect(unconsumedRecords(ends, [1], new Map(), new Map([[1, -1n]]))).toBe(30n)
    expect(unconsumedRecords(ends, [0], new Map([[0, 100n]]))).toBe(0n)
    expect(unconsumedRecords(ends, [], new Map())).toBe(0n)
  })
})
