/**
 * Which readings a pool's final epochs have paid, so that no reading is paid twice (attack10
 * F2). The archive audit recomputes each leaf from the archive's own signed readings and their
 * recorded watermarks, and the watermarks are the signers' word: two compromised signer keys
 * rebuilt an epoch from the genuine signed readings of the six epochs before it, every step's
 * watermark moved past the epoch's grace so that each earlier reading became a "late
 * adjustment" of this epoch. Every leaf recomputed exactly and 18,946 HKD was paid a second time.
 * The rules book each accepted reading (deviceId, boot, seq) into exactly one epoch, so an honest
 * archive never pays a reading an earlier epoch's archive paid; this ledger says whether one does.
 *
 * Per device and boot the paid seqs are kept as sorted, disjoint ranges labelled with the epoch
 * that paid them (one range per device and epoch for a device without gaps), so a pool's whole
 * history fits in memory. Pure.
 */
import { getOrCreate } from '../../../core/collections.ts'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import type { ReadingsArchive } from '../../oracle/domain/archive.ts'

/** One paid reading: the device's (boot, seq) that the rules book into exactly one epoch. */
export interface PaidReading {
  readonly deviceId: string
  readonly boot: number
  readonly seq: number
}

/** A reading an archive pays that an earlier epoch (or the same archive) already paid. */
export interface PaidTwice extends PaidReading {
  readonly epoch: number
  readonly paidInEpoch: number
}

interface Range {
  first: number
  last: number
  readonly epoch: number
}

/**
 * The readings an archive flags as paid. Assumes the records decode (the audit checked every
 * signature before); throws otherwise.
 */
export function paidReadingsOf(archive: ReadingsArchive): PaidReading[] {
  const paid: PaidReading[] = []
  for (const entry of archive.records) {
    if (entry.paid.length === 0) continue
    const message = decodeAcceptedRecord(Buffer.from(entry.valueBase64, 'base64'))
    for (const index of entry.paid) {
      const reading = message.readings[index]
      if (reading !== undefined) paid.push({ deviceId: entry.deviceId, boot: message.boot, seq: reading.seq })
    }
  }
  return paid
}

export class PaidLedger {
  /** deviceId → boot → ranges sorted by `first`, disjoint. */
  private readonly ranges = new Map<string, Map<number, Range[]>>()
  /** The epochs added, in order; `through` is one past the last. */
  private epochs = 0
  through: number

  /** A ledger of no epoch yet, whose next epoch is `firstEpoch`. */
  constructor(firstEpoch: number) {
    this.through = firstEpoch
  }

  /** How many epochs and ranges it holds (for logs). */
  get size(): { epochs: number; ranges: number } {
    let ranges = 0
    for (const boots of this.ranges.values()) for (const list of boots.values()) ranges += list.length
    return { epochs: this.epochs, ranges }
  }

  /**
   * The first reading of `readings` (paid by `epoch`) that the ledger's epochs paid, or that
   * `readings` pays twice itself; undefined when there is none.
   */
  firstPaidTwice(epoch: number, readings: readonly PaidReading[]): PaidTwice | undefined {
    const seen = new Set<string>()
    for (const r of readings) {
      const own = `${r.deviceId}\u0000${r.boot}\u0000${r.seq}`
      if (seen.has(own)) return { ...r, epoch, paidInEpoch: epoch }
      seen.add(own)
      const range = findRange(this.ranges.get(r.deviceId)?.get(r.boot), r.seq)
      if (range !== undefined) return { ...r, epoch, paidInEpoch: range.epoch }
    }
    return undefined
  }

  /** Adds the readings `epoch` paid; epochs are added in order, each once. */
  add(epoch: number, readings: readonly PaidReading[]): void {
    if (epoch !== this.through)
      throw new Error(
        `the paid ledger holds epochs up to ${this.through - 1}; epoch ${epoch} cannot be added`,
      )
    const sorted = [...readings].sort((a, b) =>
      a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.boot - b.boot || a.seq - b.seq,
    )
    let open: { deviceId: string; boot: number; range: Range } | undefined
    const close = () => {
      if (open === undefined) return
      const boots = getOrCreate(this.ranges, open.deviceId, () => new Map<number, Range[]>())
      insertRange(
        getOrCreate(boots, open.boot, () => []),
        open.range,
      )
    }
    for (const r of sorted) {
      if (open?.deviceId === r.deviceId && open.boot === r.boot && r.seq <= open.range.last + 1) {
        open.range.last = Math.max(open.range.last, r.seq)
        continue
      }
      close()
      open = { deviceId: r.deviceId, boot: r.boot, range: { first: r.seq, last: r.seq, epoch } }
    }
    close()
    this.epochs++
    this.through = epoch + 1
  }
}

/** The range holding `seq`, by binary search. */
function findRange(list: readonly Range[] | undefined, seq: number): Range | undefined {
  if (list === undefined) return undefined
  let lo = 0
  let hi = list.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const range = list[mid] as Range
    if (seq < range.first) hi = mid - 1
    else if (seq > range.last) lo = mid + 1
    else return range
  }
  return undefined
}

/** Inserts a range (disjoint from the list's: checked by the caller) in `first` order. */
function insertRange(list: Range[], range: Range): void {
  const last = list.at(-1)
  if (last === undefined || last.last < range.first) {
    // The common case: a device's seqs grow epoch after epoch. Adjacent ranges of one epoch join.
    if (last !== undefined && last.epoch === range.epoch && last.last + 1 === range.first)
      last.last = range.last
    else list.push(range)
    return
  }
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((list[mid] as Range).first < range.first) lo = mid + 1
    else hi = mid
  }
  list.splice(lo, 0, range)
}
