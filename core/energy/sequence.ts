/**
 * Per-device sequence rules: which readings join a device's line, which are replays, and which
 * are faults that must not move the device's state. The aggregator runs them before meter
 * accounting (./meter-account.ts); docs/architecture.md ("Meter accounting") states them.
 *
 * A device's order key is (boot, seq). A device increments `boot` whenever its seq restarts
 * (reflash, factory reset, a new controller), and seq restarts at 1 in the new boot. v1 messages
 * carry no boot and count as boot 0. The successor of (b, s) is (b, s + 1), or (b', 1) for any
 * b' > b (boots in which the device sent nothing leave no trace).
 *
 * Readings behind the device's position are compared with what was accepted: a window of the
 * last `recentWindow` accepted readings per device keeps a 53-bit hash of each reading's
 * canonical encoding. Identical → a replay (dropped, counted); different → CONFLICTING_DUPLICATE.
 * Behind the window there is nothing to compare with, so device time decides: a replay of an
 * accepted reading cannot carry a device time later than the device's accounting time (which
 * never decreases), so one at or before it is taken for a replay (dropped, counted as stale),
 * and one after it cannot be a replay: SEQ_REWOUND (seq went back without a new boot), or
 * BOOT_REGRESSED for an earlier boot.
 */
import { canonicalJson } from '../telemetry/canonical.ts'
import type { Reading } from '../telemetry/types.ts'

export const SEQUENCE_REASONS = {
  SEQ_JUMP:
    'the seq is further ahead of the device’s last accepted one than the configured bound (firmware bug or forged counter); the device’s state is unchanged',
  BOOT_REGRESSED:
    'the boot number is lower than the device’s current one and the reading was never accepted; its energy is in the register difference booked by the newer boot',
  CONFLICTING_DUPLICATE:
    'same (deviceId, boot, seq) as an accepted or waiting reading, but other content; the first one stands',
  SEQ_REWOUND:
    'the seq went back within a boot (a restart that did not advance boot) and the device time is newer than anything accepted, so it is no replay',
  GAP_GIVEN_UP:
    'arrived after its seq gap was given up; its energy was booked by the reading after the gap (register difference)',
  VALUE_OUT_OF_RANGE:
    'a value is outside what can be accounted and stored exactly (int64 fields, sums exact in a double); the device’s state is unchanged',
} as const
export type SequenceReason = keyof typeof SEQUENCE_REASONS
export const SEQUENCE_REASON_CODES = Object.keys(SEQUENCE_REASONS) as SequenceReason[]

export interface SequenceRules {
  /** Within a boot, a seq more than this ahead of the last accepted one is SEQ_JUMP. */
  readonly maxSeqJump: number
  /**
   * A far line is genuine after this many consecutive readings on it (the device's counter
   * really moved there): the last of them is then accepted as if the gap had been given up.
   */
  readonly seqJumpConfirmations: number
  /** Accepted readings remembered per device for the duplicate comparison. */
  readonly recentWindow: number
  /** Given-up seq ranges remembered per device, so their late readings are told apart. */
  readonly givenUpRanges: number
}

export const DEFAULT_SEQUENCE_RULES: SequenceRules = {
  // A device sampling every second sends 86,400 readings a day: a week of lost readings is a
  // gap, not a jump; a counter at 2^31 or 2^53 is a jump.
  maxSeqJump: 1_000_000,
  seqJumpConfirmations: 3,
  // 64 readings: a replay of the last few messages (the common case) is compared by content.
  // 24 bytes each: 1.5 KiB per device, 24 MiB for 16,000 devices.
  recentWindow: 64,
  givenUpRanges: 16,
}

/** Registers and counters above this are refused: sums of many stay exact in a double. */
export const MAX_REGISTER_VALUE = 2 ** 50
/** 2000-01-01 and 2100-01-01 (as core/telemetry/decode.ts). */
const MIN_DEVICE_TIME_MS = 946_684_800_000
const MAX_DEVICE_TIME_MS = 4_102_444_800_000

export interface SeqPosition {
  readonly boot: number
  readonly seq: number
}

export function compareOrder(a: SeqPosition, b: SeqPosition): number {
  return a.boot !== b.boot ? a.boot - b.boot : a.seq - b.seq
}

/** Whether `next` directly follows `position` (or starts a device's line: seq 1 of any boot). */
export function isSuccessor(position: SeqPosition | undefined, next: SeqPosition): boolean {
  if (!position) return next.seq === 1
  return next.boot === position.boot
    ? next.seq === position.seq + 1
    : next.boot > position.boot && next.seq === 1
}

const inRange = (v: unknown, min: number, max: number) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max

/**
 * Values the accounting and InfluxDB's int64 fields cannot hold exactly. Ingest's decoder refuses
 * most of them already; the aggregator reads Kafka records that any producer may have written.
 */
export function valueProblem(reading: Reading, boot: number): string | undefined {
  if (!inRange(boot, 0, Number.MAX_SAFE_INTEGER)) return `boot ${boot} is not a safe integer ≥ 0`
  if (!inRange(reading.seq, 0, Number.MAX_SAFE_INTEGER)) return `seq ${reading.seq} is not a safe integer ≥ 0`
  if (!inRange(reading.ts, MIN_DEVICE_TIME_MS, MAX_DEVICE_TIME_MS))
    return `ts ${reading.ts} is outside 2000..2100`
  if (!inRange(reading.registerWh, 0, MAX_REGISTER_VALUE))
    return `registerWh ${reading.registerWh} is outside 0..2^50`
  if (
    (reading.type === 'swap.event' || reading.type === 'swap.slots') &&
    !inRange(reading.swapCount, 0, MAX_REGISTER_VALUE)
  )
    return `swapCount ${reading.swapCount} is outside 0..2^50`
  return undefined
}

/**
 * cyrb53 of the reading's canonical encoding: 53 bits, exact in a double. Not a cryptographic
 * hash: it tells a faulty device's conflicting reading from a replay (a device that holds its
 * key can sign anything anyway); two different readings with one seq collide with odds 2^-53.
 */
export function readingHash(reading: Reading): number {
  const text = canonicalJson(reading)
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 2654435761)
    h2 = Math.imul(h2 ^ c, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}

/** What to do with a reading, before meter accounting. */
export type SequenceVerdict =
  /** Ahead of the device's position: account it now if it is the successor, else wait. */
  | { readonly kind: 'ahead' }
  /** A far line confirmed: account it now, the seqs in between count as a given-up gap. */
  | { readonly kind: 'adopt' }
  /** An identical replay; `stale` when behind the window (compared by device time only). */
  | { readonly kind: 'duplicate'; readonly stale: boolean }
  | { readonly kind: 'quarantine'; readonly reason: SequenceReason; readonly detail: string }

interface GivenUp {
  readonly boot: number
  readonly fromSeq: number
  readonly toSeq: number
}

/**
 * The sequence memory of one device: recent accepted keys with their hashes (a ring), given-up
 * ranges, and a far line being confirmed. Not persisted: after a restart the window is empty and
 * the device-time rule decides (replays of what was accepted are then counted as stale).
 */
export class DeviceSequence {
  private readonly boots: Float64Array
  private readonly seqs: Float64Array
  private readonly hashes: Float64Array
  private size = 0
  private next = 0
  private givenUp: GivenUp[] = []
  private farLine: { boot: number; seq: number; count: number } | undefined
  /** Latest device time of an accepted reading (above the accounting time when a clock was ahead). */
  private maxAcceptedTs = Number.NEGATIVE_INFINITY

  constructor(private readonly rules: SequenceRules) {
    this.boots = new Float64Array(rules.recentWindow)
    this.seqs = new Float64Array(rules.recentWindow)
    this.hashes = new Float64Array(rules.recentWindow)
  }

  recordAccepted(key: SeqPosition, hash: number, ts: number): void {
    this.maxAcceptedTs = Math.max(this.maxAcceptedTs, ts)
    if (this.rules.recentWindow === 0) return
    this.boots[this.next] = key.boot
    this.seqs[this.next] = key.seq
    this.hashes[this.next] = hash
    this.next = (this.next + 1) % this.rules.recentWindow
    this.size = Math.min(this.size + 1, this.rules.recentWindow)
  }

  /**
   * Records that the seqs between `position` (exclusive; before a device's first reading, seq 1
   * of the reached boot inclusive) and `reached` (exclusive) were given up.
   */
  recordGivenUp(position: SeqPosition | undefined, reached: SeqPosition): void {
    const ranges: GivenUp[] =
      position === undefined
        ? [{ boot: reached.boot, fromSeq: 1, toSeq: reached.seq - 1 }]
        : position.boot === reached.boot
          ? [{ boot: reached.boot, fromSeq: position.seq + 1, toSeq: reached.seq - 1 }]
          : [
              { boot: position.boot, fromSeq: position.seq + 1, toSeq: Number.POSITIVE_INFINITY },
              { boot: reached.boot, fromSeq: 1, toSeq: reached.seq - 1 },
            ]
    for (const r of ranges) if (r.fromSeq <= r.toSeq) this.givenUp.push(r)
    if (this.givenUp.length > this.rules.givenUpRanges)
      this.givenUp = this.givenUp.slice(-this.rules.givenUpRanges)
  }

  private lookup(key: SeqPosition): number | undefined {
    for (let i = 0; i < this.size; i++) {
      if (this.seqs[i] === key.seq && this.boots[i] === key.boot) return this.hashes[i]
    }
    return undefined
  }

  /** The oldest key the window remembers (everything accepted after it is in the window). */
  private oldest(): SeqPosition | undefined {
    if (this.size === 0) return undefined
    const i = this.size < this.rules.recentWindow ? 0 : this.next
    return { boot: this.boots[i] as number, seq: this.seqs[i] as number }
  }

  /**
   * Classifies a reading against the device's accepted position (undefined before its first
   * reading) and accounting time. A reading waiting in the device's pending set with the same
   * key is compared by the caller (`pendingHash`).
   */
  classify(
    position: SeqPosition | undefined,
    accountingTs: number,
    key: SeqPosition,
    reading: Reading,
    hash: number,
    pendingHash: number | undefined,
  ): SequenceVerdict {
    if (pendingHash !== undefined) return this.sameOrConflict(pendingHash, hash, key, 'waiting')
    if (position && compareOrder(key, position) <= 0)
      return this.behind(position, accountingTs, key, reading, hash)
    if (position && key.boot === position.boot && key.seq - position.seq > this.rules.maxSeqJump) {
      return this.jump(position, key)
    }
    if (position && key.boot > position.boot && key.seq > this.rules.maxSeqJump) {
      return this.jump({ boot: key.boot, seq: 0 }, key)
    }
    this.farLine = undefined
    return { kind: 'ahead' }
  }

  private sameOrConflict(known: number, hash: number, key: SeqPosition, what: string): SequenceVerdict {
    return known === hash
      ? { kind: 'duplicate', stale: false }
      : {
          kind: 'quarantine',
          reason: 'CONFLICTING_DUPLICATE',
          detail: `boot ${key.boot} seq ${key.seq} differs from the ${what} reading with that key`,
        }
  }

  private jump(position: SeqPosition, key: SeqPosition): SequenceVerdict {
    const line = this.farLine
    this.farLine =
      line && line.boot === key.boot && key.seq === line.seq + 1
        ? { boot: key.boot, seq: key.seq, count: line.count + 1 }
        : { boot: key.boot, seq: key.seq, count: 1 }
    if (this.farLine.count >= this.rules.seqJumpConfirmations) {
      this.farLine = undefined
      return { kind: 'adopt' }
    }
    return {
      kind: 'quarantine',
      reason: 'SEQ_JUMP',
      detail: `seq ${key.seq} is ${key.seq - position.seq} ahead of ${position.seq} in boot ${key.boot} (bound ${this.rules.maxSeqJump})`,
    }
  }

  private behind(
    position: SeqPosition,
    accountingTs: number,
    key: SeqPosition,
    reading: Reading,
    hash: number,
  ): SequenceVerdict {
    const known = this.lookup(key)
    if (known !== undefined) return this.sameOrConflict(known, hash, key, 'accepted')
    const range = this.givenUp.find((r) => r.boot === key.boot && key.seq >= r.fromSeq && key.seq <= r.toSeq)
    if (range) {
      return {
        kind: 'quarantine',
        reason: 'GAP_GIVEN_UP',
        detail: `boot ${key.boot} seq ${key.seq} arrived after seqs ${range.fromSeq}..${range.toSeq} were given up`,
      }
    }
    const oldest = this.oldest()
    const inWindow = oldest !== undefined && compareOrder(key, oldest) > 0
    // In the window's span a key that is not in it was never accepted; behind it, only a device
    // time newer than anything accepted proves that the reading is no replay.
    if (inWindow || reading.ts > Math.max(accountingTs, this.maxAcceptedTs)) {
      return key.boot < position.boot
        ? {
            kind: 'quarantine',
            reason: 'BOOT_REGRESSED',
            detail: `boot ${key.boot} seq ${key.seq} after the device reached boot ${position.boot}`,
          }
        : {
            kind: 'quarantine',
            reason: 'SEQ_REWOUND',
            detail: `seq ${key.seq} at or below ${position.seq} in boot ${key.boot}, device time ${reading.ts} after ${accountingTs}`,
          }
    }
    return { kind: 'duplicate', stale: true }
  }
}
