/**
 * The DLQ records one API instance holds for browsing, keyed by (partition, offset). Pure: the
 * Kafka reader (adapters/dlq-tail.ts) adds what it reads, the routes page it.
 *
 * A DLQ topic may have several partitions (`ensureTopics` creates one, an existing cluster may
 * have more), and Kafka offsets count per partition: offset 3 of partition 0 and offset 3 of
 * partition 1 are two records. So a record is only ever named by both, and a page across
 * partitions continues from a cursor that carries every partition's position (issue 12 F1: a
 * reader that paged one partition by default never showed the others, and its records did not
 * say which partition they came from).
 *
 * Invariants: each partition's records ascend by offset; `add` takes a record only past its
 * partition's next offset, so a re-read (a consumer that rejoined and starts again at the
 * topic's beginning, as a reader that commits nothing does) neither repeats a record nor counts
 * it twice. At most `retainRecords` are kept: past that the oldest (by receive time, across
 * partitions) go first; the counts by reason cover everything ever added.
 */
import type { DlqPage, DlqPartitionState, DlqRecord } from '../ports.ts'

/** Kafka offsets are int64: a position past the largest names no record there can be. */
export const MAX_DLQ_OFFSET = 2n ** 63n - 1n
/** Most partitions a cursor names: a DLQ has a handful; the cursor must fit in a URL. */
export const MAX_CURSOR_PARTITIONS = 256

/** A page across every partition, and where each partition continues. */
export interface DlqCrossPage {
  readonly records: readonly DlqRecord[]
  /** Per partition: the offset the next page starts at (never past the partition's end). */
  readonly positions: ReadonlyMap<number, bigint>
}

export interface DlqStore {
  /** A partition the topic has, held even before a record of it was read (its start is 0). */
  track(partition: number): void
  /** Adds a record read from Kafka; false when its (partition, offset) was read already. */
  add(record: DlqRecord): boolean
  /** One past the newest offset read of a partition; undefined for one never seen. */
  nextOffset(partition: number): bigint | undefined
  partitions(): DlqPartitionState[]
  /** One partition's records at or after `fromOffset`, ascending, optionally of one reason. */
  page(partition: number, fromOffset: bigint, limit: number, reason?: string): DlqPage
  /**
   * Every partition's records at or after its position (a partition `positions` does not name:
   * from its oldest record held), oldest receive time first (ties by partition, then offset).
   */
  pageAcross(positions: ReadonlyMap<number, bigint>, limit: number, reason?: string): DlqCrossPage
  countsByReason(): { readonly total: number; readonly byReason: Readonly<Record<string, number>> }
}

interface Partition {
  readonly records: DlqRecord[]
  nextOffset: bigint
}

/** Index of the first record with offset >= target (records ascend by offset). */
function lowerBound(records: readonly DlqRecord[], target: bigint): number {
  let lo = 0
  let hi = records.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (BigInt((records[mid] as DlqRecord).offset) < target) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Whether `a` was received before `b` (receive time, then partition, then offset). */
function before(a: DlqRecord, b: DlqRecord): boolean {
  if (a.receivedAtMs !== b.receivedAtMs) return a.receivedAtMs < b.receivedAtMs
  if (a.partition !== b.partition) return a.partition < b.partition
  return BigInt(a.offset) < BigInt(b.offset)
}

export function createDlqStore(options: { readonly retainRecords: number }): DlqStore {
  const byPartition = new Map<number, Partition>()
  const byReason: Record<string, number> = {}
  let total = 0
  let retained = 0

  const partitionOf = (partition: number): Partition => {
    let p = byPartition.get(partition)
    if (p === undefined) {
      p = { records: [], nextOffset: 0n }
      byPartition.set(partition, p)
    }
    return p
  }

  const evictOldest = () => {
    let victim: Partition | undefined
    for (const p of byPartition.values()) {
      const first = p.records[0]
      if (first === undefined) continue
      if (victim === undefined || before(first, victim.records[0] as DlqRecord)) victim = p
    }
    if (victim === undefined) return
    victim.records.shift()
    retained--
  }

  const oldestOf = (p: Partition): bigint =>
    p.records[0] === undefined ? p.nextOffset : BigInt(p.records[0].offset)

  return {
    track(partition) {
      partitionOf(partition)
    },
    add(record) {
      const p = partitionOf(record.partition)
      const offset = BigInt(record.offset)
      if (offset < p.nextOffset) return false
      p.records.push(record)
      p.nextOffset = offset + 1n
      byReason[record.reason] = (byReason[record.reason] ?? 0) + 1
      total++
      retained++
      while (retained > options.retainRecords) evictOldest()
      return true
    },
    nextOffset: (partition) => byPartition.get(partition)?.nextOffset,
    partitions() {
      return [...byPartition]
        .sort(([a], [b]) => a - b)
        .map(([partition, p]) => ({
          partition,
          oldestOffset: oldestOf(p).toString(),
          nextOffset: p.nextOffset.toString(),
          retained: p.records.length,
        }))
    },
    page(partition, fromOffset, limit, reason) {
      const p = byPartition.get(partition)
      if (p === undefined) return { records: [], nextOffset: '0' }
      const records: DlqRecord[] = []
      let i = lowerBound(p.records, fromOffset)
      for (; i < p.records.length && records.length < limit; i++) {
        const record = p.records[i] as DlqRecord
        if (reason === undefined || record.reason === reason) records.push(record)
      }
      // Never past the partition's end, even for a cursor beyond it (attack12d F8).
      const next = i < p.records.length ? (p.records[i] as DlqRecord).offset : p.nextOffset.toString()
      return { records, nextOffset: next }
    },
    pageAcross(positions, limit, reason) {
      // A k-way merge of the partitions' runs from their positions: each step takes the head
      // received first. Every partition keeps its own position, so records arriving later in a
      // partition the page did not reach (or had passed) are on the next page, never skipped.
      const runs = [...byPartition]
        .sort(([a], [b]) => a - b)
        .map(([partition, p]) => {
          const from = positions.get(partition) ?? oldestOf(p)
          return { partition, p, at: lowerBound(p.records, from) }
        })
      const records: DlqRecord[] = []
      while (records.length < limit) {
        let next: (typeof runs)[number] | undefined
        for (const run of runs) {
          const head = run.p.records[run.at]
          if (head === undefined) continue
          if (next === undefined || before(head, next.p.records[next.at] as DlqRecord)) next = run
        }
        if (next === undefined) break
        const record = next.p.records[next.at] as DlqRecord
        next.at++
        if (reason === undefined || record.reason === reason) records.push(record)
      }
      return {
        records,
        positions: new Map(
          runs.map(({ partition, p, at }) => [
            partition,
            at < p.records.length ? BigInt((p.records[at] as DlqRecord).offset) : p.nextOffset,
          ]),
        ),
      }
    },
    countsByReason: () => ({ total, byReason: { ...byReason } }),
  }
}

/** `0:12,1:5`: each partition's position, ascending by partition. */
export function formatDlqCursor(positions: ReadonlyMap<number, bigint>): string {
  return [...positions]
    .sort(([a], [b]) => a - b)
    .map(([partition, offset]) => `${partition}:${offset}`)
    .join(',')
}

const CURSOR_ENTRY = /^(0|[1-9][0-9]{0,4}):(0|[1-9][0-9]{0,18})$/

/** A cursor as `formatDlqCursor` writes it, or what is wrong with it (the text is never echoed). */
export function parseDlqCursor(
  text: string,
): { readonly positions: ReadonlyMap<number, bigint> } | { readonly problem: string } {
  const entries = text.split(',')
  if (entries.length > MAX_CURSOR_PARTITIONS)
    return { problem: `a cursor names at most ${MAX_CURSOR_PARTITIONS} partitions` }
  const positions = new Map<number, bigint>()
  for (const entry of entries) {
    const match = CURSOR_ENTRY.exec(entry)
    if (match === null)
      return {
        problem:
          'a cursor is partition:offset pairs separated by commas (decimal, no leading zeros), as nextCursor gives it',
      }
    const partition = Number(match[1])
    const offset = BigInt(match[2] as string)
    if (offset > MAX_DLQ_OFFSET)
      return { problem: 'a cursor offset is beyond the largest Kafka offset (int64)' }
    if (positions.has(partition)) return { problem: `a cursor names partition ${partition} twice` }
    positions.set(partition, offset)
  }
  return { positions }
}
