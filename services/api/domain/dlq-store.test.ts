import { describe, expect, it } from 'vitest'
import type { DlqRecord } from '../ports.ts'
import { createDlqStore, formatDlqCursor, MAX_CURSOR_PARTITIONS, parseDlqCursor } from './dlq-store.ts'

const record = (
  partition: number,
  offset: number,
  receivedAtMs: number,
  reason = 'BAD_SIGNATURE',
): DlqRecord => ({
  partition,
  offset: String(offset),
  key: `d-${partition}-${offset}`,
  reason,
  detail: '',
  mqttTopic: '',
  receivedAtMs,
  sizeBytes: 1,
  preview: '',
})
const ids = (records: readonly DlqRecord[]) => records.map((r) => `${r.partition}:${r.offset}`)

/** Three partitions with the same offsets 0..2, received interleaved (p0 first at each step). */
function interleaved(retainRecords = 1_000) {
  const store = createDlqStore({ retainRecords })
  for (const p of [0, 1, 2]) store.track(p)
  for (let offset = 0; offset < 3; offset++)
    for (const p of [0, 1, 2]) store.add(record(p, offset, 1_000 + offset * 10 + p))
  return store
}

describe('DLQ store keyed by (partition, offset)', () => {
  it('keeps equal offsets of different partitions as different records', () => {
    const store = interleaved()
    expect(store.countsByReason().total).toBe(9)
    expect(store.partitions()).toEqual(
      [0, 1, 2].map((partition) => ({ partition, oldestOffset: '0', nextOffset: '3', retained: 3 })),
    )
    const page = store.pageAcross(new Map(), 100)
    expect(ids(page.records)).toEqual(['0:0', '1:0', '2:0', '0:1', '1:1', '2:1', '0:2', '1:2', '2:2'])
    expect(formatDlqCursor(page.positions)).toBe('0:3,1:3,2:3')
  })

  it('pages across partitions with a cursor that carries each partition, skipping and repeating nothing', () => {
    const store = interleaved()
    const seen: string[] = []
    let positions: ReadonlyMap<number, bigint> = new Map()
    for (let i = 0; i < 10; i++) {
      const page = store.pageAcross(positions, 2)
      seen.push(...ids(page.records))
      // Through the cursor text, as a client carries it.
      positions = (parseDlqCursor(formatDlqCursor(page.positions)) as { positions: Map<number, bigint> })
        .positions
      if (page.records.length === 0) break
    }
    expect(seen).toEqual(['0:0', '1:0', '2:0', '0:1', '1:1', '2:1', '0:2', '1:2', '2:2'])
  })

  it('shows records that arrive after a page in a partition the page had passed', () => {
    const store = interleaved()
    const first = store.pageAcross(new Map(), 100)
    store.add(record(0, 3, 5_000))
    store.add(record(2, 3, 4_000))
    const next = store.pageAcross(first.positions, 100)
    expect(ids(next.records)).toEqual(['2:3', '0:3'])
    expect(formatDlqCursor(next.positions)).toBe('0:4,1:3,2:4')
  })

  it('filters by reason and still advances every partition past what it scanned', () => {
    const store = createDlqStore({ retainRecords: 100 })
    store.add(record(0, 0, 1, 'MALFORMED_JSON'))
    store.add(record(1, 0, 2, 'BAD_SIGNATURE'))
    store.add(record(0, 1, 3, 'BAD_SIGNATURE'))
    store.add(record(1, 1, 4, 'MALFORMED_JSON'))
    const page = store.pageAcross(new Map(), 1, 'BAD_SIGNATURE')
    expect(ids(page.records)).toEqual(['1:0'])
    expect(formatDlqCursor(page.positions)).toBe('0:1,1:1')
    const rest = store.pageAcross(page.positions, 10, 'BAD_SIGNATURE')
    expect(ids(rest.records)).toEqual(['0:1'])
    expect(formatDlqCursor(rest.positions)).toBe('0:2,1:2')
  })

  it('takes a re-read of the topic (a rejoined consumer) once: no duplicates, no double counts', () => {
    const store = interleaved()
    for (let offset = 0; offset < 3; offset++)
      for (const p of [0, 1, 2]) expect(store.add(record(p, offset, 1_000 + offset * 10 + p))).toBe(false)
    expect(store.countsByReason()).toEqual({ total: 9, byReason: { BAD_SIGNATURE: 9 } })
    expect(store.pageAcross(new Map(), 100).records).toHaveLength(9)
  })

  it('evicts the oldest received across partitions and keeps counting everything', () => {
    const store = interleaved(4)
    expect(store.countsByReason().total).toBe(9)
    expect(ids(store.pageAcross(new Map(), 100).records)).toEqual(['2:1', '0:2', '1:2', '2:2'])
    expect(store.partitions()).toEqual([
      { partition: 0, oldestOffset: '2', nextOffset: '3', retained: 1 },
      { partition: 1, oldestOffset: '2', nextOffset: '3', retained: 1 },
      { partition: 2, oldestOffset: '1', nextOffset: '3', retained: 2 },
    ])
  })

  it('pages one partition by offset, never past its end', () => {
    const store = interleaved()
    const page = store.page(1, 1n, 1)
    expect(ids(page.records)).toEqual(['1:1'])
    expect(page.nextOffset).toBe('2')
    expect(store.page(1, 99n, 10)).toEqual({ records: [], nextOffset: '3' })
  })

  it('tracks a partition before any record of it: its start is 0, its end 0', () => {
    const store = createDlqStore({ retainRecords: 10 })
    store.track(4)
    expect(store.partitions()).toEqual([{ partition: 4, oldestOffset: '0', nextOffset: '0', retained: 0 }])
    expect(formatDlqCursor(store.pageAcross(new Map(), 10).positions)).toBe('4:0')
  })
})

describe('DLQ cursor', () => {
  it('round-trips and refuses what formatDlqCursor never writes', () => {
    expect(parseDlqCursor('0:3,1:0,12:9223372036854775807')).toEqual({
      positions: new Map([
        [0, 3n],
        [1, 0n],
        [12, 9223372036854775807n],
      ]),
    })
    for (const bad of [
      '',
      '0',
      '0:',
      ':1',
      '0:01',
      '00:1',
      '0:1,',
      '0:1,0:2',
      '-1:0',
      '0:9223372036854775808',
      '0:1;1:2',
    ])
      expect(parseDlqCursor(bad), bad).toHaveProperty('problem')
    const many = Array.from({ length: MAX_CURSOR_PARTITIONS + 1 }, (_, i) => `${i}:0`).join(',')
    expect(parseDlqCursor(many)).toHaveProperty('problem')
  })
})
