/**
 * The per-device acceptance rules of the aggregation (the aggregator, the oracle's replay, verify), beside the batch and epoch flow of
 * ./aggregation.ts: order keys and pending readings, the device clock bound from the Kafka
 * receive time, and the value bounds that keep every stored field inside int64. The rules
 * themselves are pure core (core/energy/sequence.ts, core/energy/meter-account.ts);
 * docs/architecture.md ("Meter accounting") states them.
 */
import type { ClockBound } from '../energy/meter-account.ts'
import { compareOrder, DeviceSequence, type SeqPosition, type SequenceRules } from '../energy/sequence.ts'
import type { DeviceRecord } from '../identity/registry.ts'
import type { Reading } from '../telemetry/types.ts'
import type { DeviceState, IntervalTotals, PendingReading, PersistedDeviceState } from './device-state.ts'

export interface ClockSettings {
  /**
   * Device milliseconds per wall millisecond: 1 in production (device time is wall time, so the
   * receive time itself is the clock); the simulator's --speed in accelerated runs.
   */
  readonly deviceTimeSpeed: number
}

export const DEFAULT_CLOCK_SETTINGS: ClockSettings = { deviceTimeSpeed: 1 }

/** Wall time an accelerated partition's anchoring record may have been received late. */
export const RECEIVE_LATENESS_MS = 30_000

/**
 * Wall time by which an honest first reading of a device may lie ahead of its partition's newest
 * accounting time carried forward by the receive times (`firstReadingBound`): records of one
 * partition received together (Mosquitto's queue for a restarting ingest, a few seconds) share
 * a receive time though minutes of device time apart. 5 s is 50 device minutes at 600×, under the
 * epoch grace and far under the hours of a clock that jumped into the future.
 */
export const FIRST_READING_LATENESS_MS = 5_000

/**
 * Interval and adjustment totals above these are refused (VALUE_OUT_OF_RANGE): epoch sums of
 * 2^9 intervals (a day has 288) over 2^14 devices of a pool stay below int64's 2^63. 2^40 units
 * is 1.1 million HKD per device and 5-minute interval; 2^40 Wh is 1.1 TWh.
 */
export const MAX_INTERVAL_ENERGY_WH = 2 ** 40
export const MAX_INTERVAL_REVENUE_UNITS = 2n ** 40n
export const MAX_INTERVAL_SWAPS = 2 ** 40

export function totalsInRange(totals: IntervalTotals, revenueUnits: bigint): boolean {
  return (
    totals.energyWh <= MAX_INTERVAL_ENERGY_WH &&
    totals.swaps <= MAX_INTERVAL_SWAPS &&
    revenueUnits <= MAX_INTERVAL_REVENUE_UNITS
  )
}

export function newDeviceState(
  device: DeviceRecord,
  partition: number,
  rules: SequenceRules,
  restored?: PersistedDeviceState,
): DeviceState {
  return {
    device,
    partition,
    meter: restored?.meter,
    open: restored?.open,
    boot: restored?.boot ?? 0,
    pending: new Map(),
    sequence: new DeviceSequence(rules),
  }
}

/** The device's accepted position, undefined before its first reading. */
export function positionOf(state: DeviceState): SeqPosition | undefined {
  return state.meter ? { boot: state.boot, seq: state.meter.lastSeq } : undefined
}

/** The pending reading with the lowest order key. */
export function firstPending(state: DeviceState): PendingReading | undefined {
  let first: PendingReading | undefined
  for (const p of state.pending.values()) {
    if (
      !first ||
      compareOrder({ boot: p.boot, seq: p.reading.seq }, { boot: first.boot, seq: first.reading.seq }) < 0
    )
      first = p
  }
  return first
}

/**
 * A copy of a reading whose values InfluxDB can store (int64 fields, a timestamp in its range),
 * for the quarantine point of a reading refused as VALUE_OUT_OF_RANGE; the raw reading goes into
 * the point's detail.
 */
export function storableCopy(reading: Reading, atMs: number): Reading {
  const safe = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : -1)
  return { ...reading, seq: Math.max(0, safe(reading.seq)), ts: atMs, registerWh: safe(reading.registerWh) }
}

/** A partition clock's pairing of a device time with the receive time it was reached at. */
export interface ClockAnchor {
  readonly ts: number
  readonly receivedAtMs: number
}

/**
 * What of a partition's device-time clock the rules read when they bound a reading (`bound`,
 * `firstReadingBound`): the partition's anchor, the fleet's first anchor (the clock of a
 * partition not anchored yet) and the partition's newest accounting time. Other devices' readings
 * set them, so a replay of one device's records (`verify`) is given them as the full replay had
 * them (the readings archive records them per step, docs/architecture.md "Readings archive").
 * `fleet` only while the partition has no anchor; empty (`{}`) at speed 1 and before anything
 * was accepted.
 */
export interface PartitionClock {
  readonly anchor?: ClockAnchor | undefined
  readonly fleet?: ClockAnchor | undefined
  readonly newest?: ClockAnchor | undefined
}

const NO_CLOCK: PartitionClock = {}

interface RestoredWatermark {
  readonly ts: number
  readonly receivedAtMs: number | undefined
}

/**
 * The device-time clock of each partition, for bounding device clocks (docs/architecture.md,
 * "Device clocks"). At speed 1 the receive time is the clock, and meter accounting bounds device
 * time by it itself (`maxClockAheadMs`): no bound is needed from here. Accelerated, the receive
 * time only measures elapsed time: the partition's clock starts at its first accepted reading
 * within the bound and runs at `speed` × the receive time elapsed since, so no device, however it
 * sets its clock, can pull it ahead; a speed set below the real one clamps honest devices
 * (counted as CLOCK_AHEAD). Before that anchor a partition is bounded, after a restore, by its
 * restored watermark (`ceilingOf`), else by the fleet's first anchor.
 */
export class PartitionClocks {
  private readonly clocks = new Map<number, ClockAnchor>()
  /** The first anchor set; kept when its partition is forgotten (the fleet's clock goes on). */
  private first: ClockAnchor | undefined
  /**
   * Restored watermarks of partitions not anchored since, with the latest receive time their
   * restored states record (undefined when none does), and the newest of all restored.
   */
  private readonly restored = new Map<number, RestoredWatermark>()
  private restoredFleet: RestoredWatermark | undefined
  /**
   * The restored watermarks paired with a receive time: an upper bound only (with the
   * tolerance), never the anchor itself; a partition anchors at its first reading within it.
   */
  private readonly ceilings = new Map<number, ClockAnchor>()
  /**
   * Per partition, the latest accounting time of the readings it applied (corrected or not,
   * quarantined or not: every one of them is some device's accounting time, its state's `lastTs`)
   * with the receive time it was first reached at: what bounds a device's first reading
   * (`firstReadingBound`). A restore rebuilds it from the states, which hold each device's latest
   * accounting time and its receive time, so a restarted instance has the one it had before.
   */
  private readonly newest = new Map<number, ClockAnchor>()

  constructor(
    private readonly settings: ClockSettings,
    private readonly maxAheadMs: number,
  ) {}

  /** The bound of an accelerated partition at receive time `receivedAtMs` (none before any anchor). */
  bound(partition: number, receivedAtMs: number | undefined): ClockBound | undefined {
    if (this.settings.deviceTimeSpeed === 1 || receivedAtMs === undefined) return undefined
    const now = this.nowOf(partition, receivedAtMs)
    // Not the receive time as a clock (accounting's default): the first reading anchors.
    if (now === undefined)
      return {
        maxTs: Number.POSITIVE_INFINITY,
        clampToMs: receivedAtMs,
        deviceTimeSpeed: this.settings.deviceTimeSpeed,
      }
    // The anchoring record may itself have been received late (broker and ingest latency, a
    // loaded machine), which puts this clock behind by `speed` × that delay: at 1200× a quarter
    // second is 5 device minutes, enough for every later honest reading to count as ahead and
    // freeze the partition's watermark (seen under `npm start`). The tolerance therefore grows
    // with the speed by RECEIVE_LATENESS_MS of wall time.
    return {
      maxTs: now + this.maxAheadMs + this.settings.deviceTimeSpeed * RECEIVE_LATENESS_MS,
      clampToMs: now,
      // A clock behind measures real time by receive times, at this speed.
      deviceTimeSpeed: this.settings.deviceTimeSpeed,
    }
  }

  /**
   * The bound of a device's first reading (it has no meter state, so no line to be judged by):
   * the partition's bound (`bound`), but at most the partition's newest accounting time carried
   * forward at the speed by the receive time since (`newest`), plus `maxAheadMs` and `speed` ×
   * FIRST_READING_LATENESS_MS; a reading past it is booked no later than that carried-forward time.
   *
   * Why: the partition's bound allows hours at 600× (the anchor's lateness × the speed), and its
   * clock runs ahead of a fleet that runs slower than the speed set (a test harness's 500 ms a
   * tick plus publishing), by a quarter of the time since the anchor at 480×. A charger whose
   * very first reading (or its first after a restart, without a persisted state) came with its
   * clock 6 h ahead passed it, was booked 6 h ahead and moved its partition's watermark with it,
   * and once its clock was right its honest readings were squeezed against the bound and
   * quarantined (ENERGY_POWER_MISMATCH, REGISTER_JUMP: 0.40 % of the energy unpaid in 2 of 5
   * runs of the 600× restart test, issue 8). The per-device leap check needs a previous reading.
   * The newest accounting time is re-paired at every reading that moves it, so it drifts only
   * over the time since the partition's latest reading, not since the anchor. It counts readings
   * booked CLOCK_AHEAD too, which move no watermark: their device's own cadence books them
   * (a partition whose only busy device ran 30 min ahead left its watermark 30 min behind), and
   * a restore finds it again in the device states.
   */
  firstReadingBound(partition: number, receivedAtMs: number | undefined): ClockBound | undefined {
    const base = this.bound(partition, receivedAtMs)
    const newest = this.newest.get(partition)
    if (!base || !newest || receivedAtMs === undefined) return base
    const speed = this.settings.deviceTimeSpeed
    const carriedMs = newest.ts + Math.max(0, receivedAtMs - newest.receivedAtMs) * speed
    return {
      maxTs: Math.min(base.maxTs, carriedMs + this.maxAheadMs + speed * FIRST_READING_LATENESS_MS),
      clampToMs: Math.max(newest.ts, Math.min(base.clampToMs, carriedMs)),
      deviceTimeSpeed: speed,
    }
  }

  /**
   * Records a reading's accounting time as its partition's newest (`firstReadingBound`) when it
   * is later than the newest so far; the aggregation calls it for every reading it applies. Only
   * a later time replaces it: the same time received later would carry it forward from a later
   * receive time, behind the fleet's.
   */
  accounted(partition: number, accountingTs: number, receivedAtMs: number | undefined): void {
    if (this.settings.deviceTimeSpeed === 1 || receivedAtMs === undefined) return
    if (accountingTs > (this.newest.get(partition)?.ts ?? Number.NEGATIVE_INFINITY))
      this.newest.set(partition, { ts: accountingTs, receivedAtMs })
  }

  /**
   * Anchors an accelerated partition's clock at its first accepted reading within the bound
   * (the aggregation calls this for readings not booked as CLOCK_AHEAD), at the latest of its
   * accounting time, the partition's watermark and, after a restore, the bound's clock: each of
   * these lower-bounds the fleet's time when clocks are honest, and a reading of a backlog
   * (received late) anchored the clock behind by its lateness for good. The anchor never moves
   * afterwards: a clock that followed the readings could be pulled forward by the tolerance at
   * every record.
   */
  observe(
    partition: number,
    accountingTs: number,
    receivedAtMs: number | undefined,
    watermark?: number,
  ): void {
    if (this.settings.deviceTimeSpeed === 1 || receivedAtMs === undefined || this.clocks.has(partition))
      return
    const restored = this.ceilingOf(partition, receivedAtMs) !== undefined
    const boundNow = restored ? this.nowOf(partition, receivedAtMs) : undefined
    const anchor = {
      ts: Math.max(accountingTs, watermark ?? accountingTs, boundNow ?? accountingTs),
      receivedAtMs,
    }
    this.clocks.set(partition, anchor)
    this.ceilings.delete(partition)
    this.restored.delete(partition)
    this.first ??= anchor
  }

  /**
   * Watermarks restored after a start or a rebalance (device time reached before it), with the
   * latest receive time of each partition's restored device states (`lastReceivedAtMs`: the
   * watermark was reached by then). A restarted aggregator has no anchor: without these the
   * first reading it accepts on each partition anchored it unchecked, and a device whose clock
   * had jumped 6 h ahead then anchored its partition (and its watermark) 6 h ahead, whose honest
   * PV readings became PV_ENERGY_AT_NIGHT and whose epochs became late (issue 8, an aggregator
   * SIGKILL at 600×).
   */
  restore(
    watermarks: ReadonlyMap<number, number>,
    lastReceivedAtMs: ReadonlyMap<number, number>,
    newest: ReadonlyMap<number, ClockAnchor> = new Map(),
  ): void {
    for (const [p, n] of newest) this.accounted(p, n.ts, n.receivedAtMs)
    for (const [p, ts] of watermarks) {
      const restored = { ts, receivedAtMs: lastReceivedAtMs.get(p) }
      if (!this.clocks.has(p) && ts >= (this.restored.get(p)?.ts ?? ts)) this.restored.set(p, restored)
      if (ts >= (this.restoredFleet?.ts ?? ts)) this.restoredFleet = restored
    }
  }

  /**
   * A partition's clock at `receivedAtMs`: its anchor's; before it, its restored ceiling's, else
   * (on a fresh start) the fleet's first anchor's. Undefined before any anchor on a fresh start.
   */
  private nowOf(partition: number, receivedAtMs: number): number | undefined {
    const at = (c: ClockAnchor) =>
      c.ts + Math.max(0, receivedAtMs - c.receivedAtMs) * this.settings.deviceTimeSpeed
    const c = this.clocks.get(partition) ?? this.ceilingOf(partition, receivedAtMs) ?? this.first
    return c && at(c)
  }

  /**
   * The ceiling of a partition not anchored since a restore: its restored watermark (else the
   * fleet's newest) at the latest receive time its restored states record. Each record's
   * receive time there is at least the watermark's record's, so the ceiling's clock is behind the
   * fleet's only by what was received between them (never by the time the partition was quiet:
   * paired with the receive time of the first record read since, as before, a partition quiet
   * for an hour before the restart had a clock an hour behind, and, resumed from a committed
   * offset behind the persisted watermark, a clock ahead). Without such a receive time (states
   * persisted before it existed) the first record read since stands for it.
   */
  private ceilingOf(partition: number, receivedAtMs: number): ClockAnchor | undefined {
    const known = this.ceilings.get(partition)
    if (known) return known
    const restored = this.restored.get(partition) ?? this.restoredFleet
    if (!restored) return undefined
    const ceiling = { ts: restored.ts, receivedAtMs: restored.receivedAtMs ?? receivedAtMs }
    this.ceilings.set(partition, ceiling)
    return ceiling
  }

  /**
   * The partition's clock as the rules would read it now. The anchors are immutable objects and
   * `newest` is replaced, never changed, so the snapshot shares them.
   */
  clockOf(partition: number): PartitionClock {
    if (this.settings.deviceTimeSpeed === 1) return NO_CLOCK
    const anchor = this.clocks.get(partition)
    // The fleet's anchor is read only for a partition not anchored yet.
    const fleet = anchor === undefined ? this.first : undefined
    const newest = this.newest.get(partition)
    return anchor === undefined && fleet === undefined && newest === undefined
      ? NO_CLOCK
      : { anchor, fleet, newest }
  }

  /**
   * Sets the partition's clock to a snapshot (`clockOf`) of another run of the rules: `verify`
   * replaying one device's archived steps, each at the clock the full replay applied it at.
   */
  setClock(partition: number, clock: PartitionClock): void {
    if (clock.anchor === undefined) this.clocks.delete(partition)
    else this.clocks.set(partition, clock.anchor)
    this.first = clock.fleet
    if (clock.newest === undefined) this.newest.delete(partition)
    else this.newest.set(partition, clock.newest)
  }

  forget(partition: number): void {
    this.clocks.delete(partition)
    this.newest.delete(partition)
    this.restored.delete(partition)
    this.ceilings.delete(partition)
  }
}
