import { describe, expect, it } from 'vitest'
import { grid, runFleet } from './fleet-replay.fixture.ts'
import { feedReplay, replayStatus } from './guardian-replay.ts'
import { TelemetryReplay } from './replay.ts'

const HOUR = 3_600_000

describe('feedReplay', () => {
  it('gives the totals of the replay it mirrors, record for record', () => {
    const { replay, registry } = runFleet({ duplicate: 0.05 })
    const again = new TelemetryReplay(replay.settings, replay.tariffs, registry)
    const skipped: string[] = []
    const records = [...registry.keys()]
      .flatMap((d) => replay.historyOf(d).flatMap((s) => (s.record ? [s.record] : [])))
      .sort((a, b) => Number(a.offset) - Number(b.offset))
      .map((r) => ({
        partition: r.partition,
        offset: r.offset,
        timestampMs: r.receivedAtMs,
        key: r.deviceId,
        value: Buffer.from(r.valueBase64, 'base64'),
      }))
    feedReplay(
      again,
      [...records, { partition: 0, offset: '999999', timestampMs: 0, key: 'x', value: Buffer.from('junk') }],
      (r, what) => skipped.push(`${what}@${r.offset}`),
    )
    expect(skipped).toEqual(['telemetry@999999'])
    for (const epoch of [0, 1, 2])
      expect(again.epochResults(epoch).map(({ paid, ...t }) => ({ ...t, paid: paid.length }))).toEqual(
        replay.epochResults(epoch).map(({ paid, ...t }) => ({ ...t, paid: paid.length })),
      )
  })
})

describe('replayStatus', () => {
  const base = {
    grid,
    graceMs: 600_000,
    epoch: 1,
    ends: new Map([
      [0, 10n],
      [1, 4n],
    ]),
  }
  const at = (ms: number) => () => grid.genesisMs + ms

  it('is passed once every partition is at end + grace', () => {
    expect(replayStatus({ ...base, watermarkOf: at(2 * HOUR + 600_000), positions: new Map() })).toEqual({
      kind: 'passed',
    })
  })

  it('is behind while a partition short of it has records to read, not-closed once all are read', () => {
    const short = at(2 * HOUR)
    expect(replayStatus({ ...base, watermarkOf: short, positions: new Map([[0, 10n]]) })).toMatchObject({
      kind: 'behind',
    })
    expect(
      replayStatus({
        ...base,
        watermarkOf: short,
        positions: new Map([
          [0, 10n],
          [1, 4n],
        ]),
      }),
    ).toMatchObject({ kind: 'not-closed' })
    expect(
      replayStatus({ ...base, ends: new Map(), watermarkOf: short, positions: new Map() }),
    ).toMatchObject({
      kind: 'behind',
    })
  })
})
