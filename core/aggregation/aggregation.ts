/**
 * The aggregation rules: telemetry messages in partition order → deduplicated, reordered,
 * accounted readings → interval totals, adjustments, reading and quarantine records, device
 * states and partition watermarks to write. No IO: the aggregator service writes what
 * `takeWrites()` returns, and only then commits the offsets `committableOffset()` allows.
 * One implementation for everyone who books revenue: the aggregator, the oracle's replaying
 * signer (services/oracle/domain/replay.ts) and `verify`, which recomputes a leaf from the
 * published readings archives through the same class.
 *
 * Ordering: a device's readings are accounted in seq order. A reading ahead of a gap waits until
 * the gap fills, or until the partition's watermark or the device's own later readings have
 * moved `reorderWindowMs` past it (checked after every record), or it has waited
 * `maxPendingWallMs` of wall time: then the missing seqs are taken as lost (the cumulative
 * register still carries their energy).
 *
 * Lateness: a partition's watermark is the latest accounting time of its accepted readings.
 * Energy for an epoch that this partition's watermark passed by more than `graceMs` is late: it
 * is not written into that epoch's intervals but booked into the earliest epoch still open for
 * the partition as an adjustment that names the epoch it adjusts. An epoch closes only once
 * every partition's watermark passed it that far (domain/epoch-close.ts), so the decision never
 * needs to know about closes, and a replay from the start of the topic (a fresh consumer group)
 * makes the same decisions as the first run.
 *
 * Unknown devices: a record of a device missing from the registry (a registry that reached
 * ingest first) is held, and holds its partition's offset commit, until the registry knows the
 * device (`registryChanged`) or the wait runs out (`takeExpiredUnknown`: dead-lettered).
 *
 * Pools: interval points are per device AND pool; a device whose pool changes (a registry
 * update) starts a new open interval under the new pool, so each pool keeps its own totals.
 */

import { getOrCreate } from '../collections.ts'
import {
  type AnomalyReason,
  type AnomalyRules,
  accountReading,
  type ClockCorrection,
} from '../energy/meter-account.ts'
import {
  isSuccessor,
  readingHash,
  type SeqPosition,
  type SequenceReason,
  type SequenceRules,
  valueProblem,
} from '../energy/sequence.ts'
import { epochEndMs, epochOf, epochStartMs, intervalStart, type TimeGrid } from '../epochs/grid.ts'
import type { DeviceRecord } from '../identity/registry.ts'
import { intervalRevenueUnits, type TariffBook } from '../revenue/tariffs.ts'
import type { Reading, TelemetryMessage } from '../telemetry/types.ts'
import {
  type ClockAnchor,
  type ClockSettings,
  firstPending,
  newDeviceState,
  type PartitionClock,
  PartitionClocks,
  positionOf,
  storableCopy,
  totalsInRange,
} from './device-acceptance.ts'
import {
  addTotals,
  type DeviceState,
  type IntervalTotals,
  type PersistedDeviceState,
  pendingKey,
  ZERO_TOTALS,
} from './device-state.ts'
import { type RollupPoint, Rollups } from './rollups.ts'

export interface AggregationSettings {
  readonly grid: TimeGrid
  readonly rules: AnomalyRules
  readonly tariffs: TariffBook
  readonly graceMs: number
  readonly reorderWindowMs: number
  readonly maxPendingWallMs: number
  readonly sequence: SequenceRules
  readonly clock: ClockSettings
}

export interface IntervalWrite extends IntervalTotals {
  readonly device: DeviceRecord
  readonly intervalStartMs: number
  readonly revenueUnits: bigint
}

export interface AdjustmentWrite extends IntervalTotals {
  readonly device: DeviceRecord
  /** The partition whose owner booked it (its rollup's partition). */
  readonly partition: number
  readonly adjustsEpoch: number
  readonly bookedEpoch: number
  /** The reading that brought the late energy (boot, seq); keeps adjustment points apart. */
  readonly seq: number
  readonly boot: number
  readonly revenueUnits: bigint
}

export interface ReadingWrite {
  readonly device: DeviceRecord
  readonly reading: Reading
  /** The epoch whose totals count this reading (its own, or the one a late reading is booked into). */
  readonly epoch: number
}

export interface QuarantineWrite {
  readonly device: DeviceRecord
  readonly reading: Reading
  readonly reason: AnomalyReason | SequenceReason
  readonly detail: string
}

/** A record of a device the registry does not know (yet). */
export interface HeldRecord {
  readonly partition: number
  readonly offset: string
  readonly message: TelemetryMessage
  readonly raw: Buffer
  readonly receivedAtMs: number | undefined
  readonly firstSeenWallMs: number
}

export interface Writes {
  readonly intervals: IntervalWrite[]
  readonly adjustments: AdjustmentWrite[]
  readonly readings: ReadingWrite[]
  readonly quarantines: QuarantineWrite[]
  readonly states: PersistedDeviceState[]
  readonly watermarks: Map<number, number>
  /** Changed rollups, whole values: written with the states (core/aggregation/rollups.ts). */
  readonly rollups: RollupPoint[]
  /** Offsets that may be committed once these writes are acknowledged. */
  readonly offsets: readonly { readonly partition: number; readonly offset: string }[]
}

export interface AggregationCounters {
  applied: number
  duplicates: number
  /** Duplicates behind the recent window, told from new readings by device time only. */
  staleDuplicates: number
  gapsSkipped: number
  lateAdjustments: number
  unknownDevices: number
  readonly quarantined: Partial<Record<AnomalyReason | SequenceReason, number>>
  readonly clockCorrected: Partial<Record<ClockCorrection, number>>
}

const zeroCounters = (): AggregationCounters => ({
  applied: 0,
  duplicates: 0,
  staleDuplicates: 0,
  gapsSkipped: 0,
  lateAdjustments: 0,
  unknownDevices: 0,
  quarantined: {},
  clockCorrected: {},
})

export class Aggregation {
  private readonly devices = new Map<string, DeviceState>()
  private readonly watermarks = new Map<number, number>()
  private readonly clocks: PartitionClocks
  /** Devices with pending readings, per partition. */
  private readonly waiting = new Map<number, Set<DeviceState>>()
  /** Offset after the last record seen, per partition. */
  private readonly nextOffsets = new Map<number, bigint>()
  /** Records of unknown devices, per partition, in offset order. */
  private readonly held = new Map<number, HeldRecord[]>()
  private counters: AggregationCounters = zeroCounters()

  /** With the totals the interval point held before this round of writes (its rollup adds the difference). */
  private dirtyIntervals = new Map<
    string,
    Omit<IntervalWrite, 'revenueUnits'> & { readonly partition: number; readonly base: IntervalTotals }
  >()
  private readonly rollups = new Rollups()
  /** Per partition, the rollup time before which everything was pruned as final. */
  private readonly rollupsPrunedTo = new Map<number, number>()
  private adjustments = new Map<string, AdjustmentWrite>()
  private readingWrites: ReadingWrite[] = []
  private quarantineWrites: QuarantineWrite[] = []
  private dirtyStates = new Set<DeviceState>()
  private dirtyWatermarks = new Set<number>()
  /** Partitions with records seen since the last takeWrites. */
  private touchedPartitions = new Set<number>()

  constructor(
    private readonly settings: AggregationSettings,
    private registry: { get(deviceId: string): DeviceRecord | undefined },
  ) {
    this.clocks = new PartitionClocks(settings.clock, settings.rules.maxClockAheadMs)
  }

  /** Restores persisted device states and watermarks (after a start or a rebalance). */
  restore(
    states: readonly PersistedDeviceState[],
    watermarks: ReadonlyMap<number, number>,
    rollups: readonly RollupPoint[] = [],
  ): void {
    this.rollups.restore(rollups)
    for (const s of states) {
      const device = this.registry.get(s.deviceId)
      if (!device) continue
      const state = newDeviceState(device, s.partition, this.settings.sequence, s)
      // The open interval's totals belong to the pool they were booked under.
      if (s.poolId !== undefined && s.poolId !== device.poolId) state.open = undefined
      this.devices.set(s.deviceId, state)
    }
    for (const [p, w] of watermarks) this.watermarks.set(p, Math.max(this.watermarks.get(p) ?? w, w))
    // The latest receive time the partition's states record: the watermark was reached by then.
    // And the partition's newest accounting time with the earliest receive time it was reached
    // at (each state holds its device's latest): what bounds first readings, as before the restart.
    const lastReceivedAtMs = new Map<number, number>()
    const newest = new Map<number, ClockAnchor>()
    for (const s of states) {
      const r = s.meter.lastReceivedAtMs
      if (r === undefined) continue
      lastReceivedAtMs.set(s.partition, Math.max(lastReceivedAtMs.get(s.partition) ?? r, r))
      const n = newest.get(s.partition)
      if (!n || s.meter.lastTs > n.ts || (s.meter.lastTs === n.ts && r < n.receivedAtMs))
        newest.set(s.partition, { ts: s.meter.lastTs, receivedAtMs: r })
    }
    this.clocks.restore(watermarks, lastReceivedAtMs, newest)
  }

  /** Forgets partitions this instance no longer owns: their pending readings will be re-read by the new owner. */
  forgetPartitions(partitions: readonly number[]): void {
    for (const p of partitions) {
      for (const state of this.waiting.get(p) ?? []) state.pending.clear()
      this.waiting.delete(p)
      this.held.delete(p)
      this.nextOffsets.delete(p)
      this.clocks.forget(p)
      this.rollupsPrunedTo.delete(p)
    }
    this.rollups.forget(partitions)
    for (const [id, state] of this.devices) if (partitions.includes(state.partition)) this.devices.delete(id)
  }

  /** True when a record of this device must wait: the registry does not know it, or older records of it wait. */
  mustHold(partition: number, deviceId: string): boolean {
    if (!this.registry.get(deviceId)) return true
    return (this.held.get(partition) ?? []).some((h) => h.message.deviceId === deviceId)
  }

  /** Keeps a record of a device the registry does not know; its offset is not committed meanwhile. */
  hold(record: HeldRecord): void {
    this.skipRecord(record.partition, record.offset)
    this.counters.unknownDevices += 1
    getOrCreate(this.held, record.partition, () => []).push(record)
  }

  /**
   * The registry changed: devices that moved pools start a new open interval under the new pool
   * (what the old pool accumulated stays its own), and held records of devices now known are
   * applied, in offset order.
   */
  registryChanged(registry: { get(deviceId: string): DeviceRecord | undefined }, wallNowMs: number): void {
    this.registry = registry
    for (const state of this.devices.values()) {
      const device = registry.get(state.device.deviceId)
      if (!device || device === state.device) continue
      if (device.poolId !== state.device.poolId) state.open = undefined
      state.device = device
    }
    for (const [partition, records] of this.held) {
      const still: HeldRecord[] = []
      for (const r of records) {
        if (
          registry.get(r.message.deviceId) &&
          !still.some((s) => s.message.deviceId === r.message.deviceId)
        ) {
          this.applyMessage(partition, r.offset, r.message, r.receivedAtMs, wallNowMs)
          // applyMessage moved the partition's next offset to this one; the latest seen stays.
        } else still.push(r)
      }
      this.held.set(partition, still)
      this.touchedPartitions.add(partition)
    }
  }

  /** Held records that waited `maxWaitMs` of wall time: the caller dead-letters them. */
  takeExpiredUnknown(wallNowMs: number, maxWaitMs: number): HeldRecord[] {
    const expired: HeldRecord[] = []
    for (const [partition, records] of this.held) {
      const keep = records.filter((r) => wallNowMs - r.firstSeenWallMs < maxWaitMs)
      if (keep.length === records.length) continue
      expired.push(...records.filter((r) => wallNowMs - r.firstSeenWallMs >= maxWaitMs))
      this.held.set(partition, keep)
      this.touchedPartitions.add(partition)
    }
    return expired
  }

  /** The offset after the last record seen in a partition (what "read to its end" compares). */
  nextOffsetOf(partition: number): bigint | undefined {
    return this.nextOffsets.get(partition)
  }

  watermarkOf(partition: number): number | undefined {
    return this.watermarks.get(partition)
  }

  /**
   * Raises an idle partition's watermark (its owner found nothing left to read in it for a
   * while): without this, a partition whose devices all went quiet would hold every close.
   * From then on the partition's owner treats what arrives for the passed epochs as late, as
   * for any watermark. Returns whether it moved.
   */
  raiseWatermark(partition: number, toMs: number): boolean {
    const watermark = this.watermarks.get(partition)
    if (watermark !== undefined && watermark >= toMs) return false
    this.watermarks.set(partition, toMs)
    this.dirtyWatermarks.add(partition)
    this.touchedPartitions.add(partition)
    return true
  }

  /** The partition's device-time clock as the rules read it now (PartitionClocks.clockOf). */
  clockOf(partition: number): PartitionClock {
    return this.clocks.clockOf(partition)
  }

  /** verify: sets the partition's device-time clock to what an archived step was applied at. */
  setClock(partition: number, clock: PartitionClock): void {
    this.clocks.setClock(partition, clock)
  }

  /**
   * Applies a watermark marker record (core/telemetry/watermark-marker.ts) at its place in the
   * partition. Anyone who can write to telemetry.v1 can write a marker, so its time is bounded
   * like a reading's: never past the partition's clock bound at the record's receive time
   * (receive time + max clock-ahead; an accelerated partition's own clock once anchored). A
   * forged far-future marker therefore moves the watermark no further than an honest device
   * could. Returns the watermark applied, or undefined when nothing moved.
   */
  applyWatermarkMarker(
    partition: number,
    offset: string,
    watermarkMs: number,
    receivedAtMs: number | undefined,
  ): number | undefined {
    this.skipRecord(partition, offset)
    // Without a receive time there is nothing to bound the marker by: it moves nothing.
    if (receivedAtMs === undefined) return undefined
    const bound =
      this.clocks.bound(partition, receivedAtMs)?.maxTs ?? receivedAtMs + this.settings.rules.maxClockAheadMs
    const toMs = Math.min(watermarkMs, bound)
    return this.raiseWatermark(partition, toMs) ? toMs : undefined
  }

  /** Applies one Kafka record (a signed message ingest accepted). */
  applyMessage(
    partition: number,
    offset: string,
    message: TelemetryMessage,
    receivedAtMs: number | undefined,
    wallNowMs: number,
  ): void {
    this.skipRecord(partition, offset)
    const device = this.registry.get(message.deviceId)
    if (!device) {
      this.counters.unknownDevices += 1
      return
    }
    const state = getOrCreate(this.devices, message.deviceId, () =>
      newDeviceState(device, partition, this.settings.sequence),
    )
    state.partition = partition
    const boot = message.boot ?? 0
    for (const reading of message.readings) this.accept(state, reading, boot, offset, receivedAtMs, wallNowMs)
    // After every record, not once per batch: where a batch ends is the consumer's timing, so a
    // release there would book differently from a replay of the same records. Not by wall time
    // here: in a backlog (after an InfluxDB outage) the missing seq may be in the records still
    // unread; the service applies the wall-clock rule to partitions read to their end.
    this.releaseStalePending(partition, Number.NEGATIVE_INFINITY)
  }

  /**
   * The per-device acceptance rules (core/energy/sequence.ts): out-of-range values, replays and
   * conflicts, far jumps and regressions are settled here, before anything moves the device;
   * the rest is accounted in (boot, seq) order, or waits for its gap.
   */
  private accept(
    state: DeviceState,
    reading: Reading,
    boot: number,
    offset: string,
    receivedAtMs: number | undefined,
    wallNowMs: number,
  ): void {
    const problem = valueProblem(reading, boot)
    if (problem) {
      this.reject(
        state,
        storableCopy(reading, state.meter?.lastTs ?? receivedAtMs ?? 0),
        'VALUE_OUT_OF_RANGE',
        {
          detail: `${problem}; raw ${JSON.stringify({ boot, ...reading }).slice(0, 400)}`,
        },
      )
      return
    }
    const key: SeqPosition = { boot, seq: reading.seq }
    const hash = readingHash(reading)
    const position = positionOf(state)
    const pk = pendingKey(boot, reading.seq)
    const verdict = state.sequence.classify(
      position,
      state.meter?.lastTs ?? Number.NEGATIVE_INFINITY,
      key,
      reading,
      hash,
      state.pending.get(pk)?.hash,
    )
    switch (verdict.kind) {
      case 'duplicate':
        this.counters.duplicates += 1
        if (verdict.stale) this.counters.staleDuplicates += 1
        return
      case 'quarantine':
        this.reject(state, reading, verdict.reason, { detail: verdict.detail })
        return
      case 'adopt':
        // The device's counter really moved to the far line: the seqs in between are a gap.
        this.counters.gapsSkipped += 1
        state.sequence.recordGivenUp(position, key)
        this.apply(state, reading, boot, hash, receivedAtMs)
        this.drainConsecutive(state)
        return
      case 'ahead': {
        const first = firstPending(state)
        const beforeWaiting =
          !first || first.boot > boot || (first.boot === boot && first.reading.seq > reading.seq)
        if (isSuccessor(position, key) && beforeWaiting) {
          this.apply(state, reading, boot, hash, receivedAtMs)
          this.drainConsecutive(state)
        } else {
          state.pending.set(pk, { reading, boot, hash, receivedAtMs, offset, firstSeenWallMs: wallNowMs })
          getOrCreate(this.waiting, state.partition, () => new Set()).add(state)
        }
      }
    }
  }

  /** Quarantines a reading without moving the device: it is kept with its reason and pays nothing. */
  private reject(
    state: DeviceState,
    reading: Reading,
    reason: AnomalyReason | SequenceReason,
    { detail }: { detail: string },
  ): void {
    this.counters.quarantined[reason] = (this.counters.quarantined[reason] ?? 0) + 1
    this.quarantineWrites.push({ device: state.device, reading, reason, detail })
    this.touchedPartitions.add(state.partition)
  }

  /** Marks a record as seen (also one that was not telemetry): its offset may be committed. */
  skipRecord(partition: number, offset: string): void {
    const next = BigInt(offset) + 1n
    // Max: held records are applied later, after the partition moved on.
    if (next > (this.nextOffsets.get(partition) ?? -1n)) this.nextOffsets.set(partition, next)
    this.touchedPartitions.add(partition)
  }

  /**
   * Gives up on gaps that waited long enough: the partition's watermark, or the device's own
   * later readings, are `reorderWindowMs` past the first reading waiting; or it waited
   * `maxPendingWallMs` of wall time. Runs after every record (`applyMessage`) and again at the
   * end of a batch for the wall clock.
   *
   * The device's own readings count because the watermark only moves on accepted readings: on a
   * partition whose devices all start ahead of a gap (their first seqs never reached Kafka, e.g.
   * published before ingest subscribed), nothing is ever accepted, so no watermark could release
   * them. The aggregator then gave up on the wall clock, which a replay of the topic cannot see,
   * and the oracle's replaying signers never saw the partition pass any epoch (SOURCE_NOT_READY
   * for a 6-device fleet under `npm start`). Both rules depend only on the partition's records
   * in Kafka order, so the aggregator and every replay release at the same record. A device can
   * thus shorten the wait of its own gap only, and moves no watermark by it.
   */
  releaseStalePending(partition: number, wallNowMs: number): void {
    const waiting = this.waiting.get(partition)
    if (!waiting) return
    for (const state of [...waiting]) {
      for (;;) {
        const first = firstPending(state)
        if (!first) break
        const watermark = this.watermarks.get(partition) ?? Number.NEGATIVE_INFINITY
        const windowMs = this.settings.reorderWindowMs
        // Like with like: the watermark is accounting time, so it must pass the window after the
        // device's accounting time (which a clock behind leaves hours ahead of its device time:
        // compared with the device time, a behind device's gap was given up at once, and the
        // straggler became GAP_GIVEN_UP); the device's own later readings count on its own clock.
        const releaseAtMs = Math.max(first.reading.ts, state.meter?.lastTs ?? first.reading.ts) + windowMs
        const stale =
          watermark >= releaseAtMs ||
          wallNowMs - first.firstSeenWallMs >= this.settings.maxPendingWallMs ||
          latestPendingTs(state) >= first.reading.ts + windowMs
        if (!stale) break
        state.pending.delete(pendingKey(first.boot, first.reading.seq))
        this.touchedPartitions.add(partition)
        const position = positionOf(state)
        const key = { boot: first.boot, seq: first.reading.seq }
        // Seqs skipped are a gap: their readings that still arrive are GAP_GIVEN_UP (within the
        // boot) or BOOT_REGRESSED (the tail of an earlier boot).
        const newBoot = position !== undefined && key.boot > position.boot
        if (position && !(newBoot && isSuccessor(position, key))) this.counters.gapsSkipped += 1
        state.sequence.recordGivenUp(newBoot ? undefined : position, key)
        this.apply(state, first.reading, first.boot, first.hash, first.receivedAtMs)
        this.drainConsecutive(state)
      }
      if (state.pending.size === 0) waiting.delete(state)
    }
  }

  /** Accounts the readings waiting right behind the device's position. */
  private drainConsecutive(state: DeviceState): void {
    for (;;) {
      const next = firstPending(state)
      if (!next || !isSuccessor(positionOf(state), { boot: next.boot, seq: next.reading.seq })) break
      state.pending.delete(pendingKey(next.boot, next.reading.seq))
      this.apply(state, next.reading, next.boot, next.hash, next.receivedAtMs)
    }
    if (state.pending.size === 0) this.waiting.get(state.partition)?.delete(state)
  }

  private isLate(partition: number, epoch: number): boolean {
    const watermark = this.watermarks.get(partition)
    return (
      watermark !== undefined && watermark >= epochEndMs(this.settings.grid, epoch) + this.settings.graceMs
    )
  }

  /**
   * The earliest epoch still open for a partition: where late data is booked. No epoch at or
   * after it can have closed, since closing needs this partition's watermark past it too.
   */
  private bookingEpoch(partition: number): number {
    const { grid, graceMs } = this.settings
    const watermark = this.watermarks.get(partition) ?? grid.genesisMs
    return epochOf(grid, watermark - graceMs)
  }

  private revenue(device: DeviceRecord, intervalStartMs: number, totals: IntervalTotals): bigint {
    return intervalRevenueUnits(
      this.settings.tariffs,
      device.tariffId,
      intervalStartMs,
      totals.energyWh,
      totals.swaps,
    )
  }

  /**
   * Adds a contribution to one interval of a device: into the interval's totals, or, when that
   * interval's epoch is late for the partition, into an adjustment booked into an open epoch.
   */
  private book(
    state: DeviceState,
    boot: number,
    seq: number,
    start: number,
    delta: IntervalTotals,
    newOpenStartMs: number,
  ): number {
    const { device, partition } = state
    const before = state.open !== undefined && state.open.startMs === start ? state.open : ZERO_TOTALS
    const after = addTotals(before, delta)
    const epoch = epochOf(this.settings.grid, start)
    const late = this.isLate(partition, epoch)
    const bookedEpoch = late ? this.bookingEpoch(partition) : epoch
    if (late) {
      const key = `${device.deviceId}\u0000${epoch}\u0000${boot}\u0000${seq}`
      const previous = this.adjustments.get(key)
      const revenueDelta = this.revenue(device, start, after) - this.revenue(device, start, before)
      this.adjustments.set(key, {
        ...addTotals(previous ?? ZERO_TOTALS, delta),
        device,
        partition,
        adjustsEpoch: epoch,
        bookedEpoch,
        seq,
        boot,
        revenueUnits: (previous?.revenueUnits ?? 0n) + revenueDelta,
      })
      this.counters.lateAdjustments += 1
    } else {
      // Revenue is computed once per interval when the writes are taken, not per reading.
      const key = `${device.deviceId}\u0000${device.poolId}\u0000${start}`
      this.dirtyIntervals.set(key, {
        ...after,
        device,
        intervalStartMs: start,
        partition,
        base: this.dirtyIntervals.get(key)?.base ?? before,
      })
    }
    if (start === newOpenStartMs) state.open = { ...after, startMs: start }
    return bookedEpoch
  }

  /**
   * Whether booking `pieces` (interval start → totals added) keeps every interval inside the
   * stored fields' bounds (device-acceptance.ts); checked before anything is booked.
   */
  private fitsFields(state: DeviceState, pieces: readonly (readonly [number, IntervalTotals])[]): boolean {
    for (const [start, delta] of pieces) {
      const before = state.open !== undefined && state.open.startMs === start ? state.open : ZERO_TOTALS
      const after = addTotals(before, delta)
      if (!totalsInRange(after, this.revenue(state.device, start, after))) return false
    }
    return true
  }

  private apply(
    state: DeviceState,
    reading: Reading,
    boot: number,
    hash: number,
    receivedAtMs: number | undefined,
  ): void {
    const { grid, rules } = this.settings
    const { device, partition } = state
    // A device's first reading has no line to be judged by: its partition's newest reading
    // bounds it too (PartitionClocks.firstReadingBound).
    const clock = state.meter
      ? this.clocks.bound(partition, receivedAtMs)
      : this.clocks.firstReadingBound(partition, receivedAtMs)
    const result = accountReading(grid, rules, device, state.meter, reading, receivedAtMs, clock)
    // Pieces come in interval order and end at or before the interval of the reading's
    // accounting time, where its swaps and its count also go (the device's new open interval).
    const newOpenStartMs = intervalStart(grid, result.state.lastTs)
    let openEnergyWh = 0
    const pieces: [number, IntervalTotals][] = []
    for (const piece of result.energy) {
      if (piece.intervalStartMs === newOpenStartMs) openEnergyWh += piece.energyWh
      else pieces.push([piece.intervalStartMs, { ...ZERO_TOTALS, energyWh: piece.energyWh }])
    }
    pieces.push([
      newOpenStartMs,
      {
        energyWh: openEnergyWh,
        swaps: result.swaps,
        readings: result.anomaly ? 0 : 1,
        quarantined: result.anomaly ? 1 : 0,
      },
    ])
    if (!this.fitsFields(state, pieces)) {
      this.reject(state, reading, 'VALUE_OUT_OF_RANGE', {
        detail: `booking +${reading.registerWh - (state.meter?.lastRegisterWh ?? 0)} Wh, +${result.swaps} swaps would exceed the bounds of a stored interval`,
      })
      return
    }
    this.counters.applied += 1
    this.clocks.accounted(partition, result.state.lastTs, receivedAtMs)
    if (result.clockCorrection)
      this.counters.clockCorrected[result.clockCorrection] =
        (this.counters.clockCorrected[result.clockCorrection] ?? 0) + 1
    let countedInEpoch = 0
    for (const [start, delta] of pieces)
      countedInEpoch = this.book(state, boot, reading.seq, start, delta, newOpenStartMs)

    state.meter = result.state
    state.boot = boot
    state.sequence.recordAccepted({ boot, seq: reading.seq }, hash, reading.ts)
    this.dirtyStates.add(state)
    if (result.anomaly) {
      this.counters.quarantined[result.anomaly.reason] =
        (this.counters.quarantined[result.anomaly.reason] ?? 0) + 1
      this.quarantineWrites.push({
        device,
        reading,
        reason: result.anomaly.reason,
        detail: result.anomaly.detail,
      })
      return
    }
    this.readingWrites.push({ device, reading, epoch: countedInEpoch })
    // A reading booked at a corrected time is an estimate: it moves no watermark or clock.
    if (result.clockCorrection === 'CLOCK_AHEAD') return
    const watermark = this.watermarks.get(partition)
    this.clocks.observe(partition, result.state.lastTs, receivedAtMs, watermark)
    if (watermark === undefined || result.state.lastTs > watermark) {
      this.watermarks.set(partition, result.state.lastTs)
      this.dirtyWatermarks.add(partition)
    }
  }

  /** Counts since the last call (for metrics), then starts again from zero. */
  takeCounters(): AggregationCounters {
    const counters = this.counters
    this.counters = zeroCounters()
    return counters
  }

  /**
   * Adds what this round changed to the rollups: per interval point the difference to what it
   * held before (revenue included: a point's revenue is computed on its whole totals), and every
   * adjustment whole (each is a new point: its key holds the reading's boot and seq).
   */
  private rollUp(
    intervals: readonly IntervalWrite[],
    partitionOf: readonly number[],
    bases: readonly IntervalTotals[],
  ) {
    intervals.forEach((w, i) => {
      const base = bases[i] as IntervalTotals
      const baseRevenue = base === ZERO_TOTALS ? 0n : this.revenue(w.device, w.intervalStartMs, base)
      this.rollups.add(
        {
          partition: partitionOf[i] as number,
          source: 'interval',
          poolId: w.device.poolId,
          assetClass: w.device.assetClass,
          timeMs: w.intervalStartMs,
        },
        {
          energyWh: w.energyWh - base.energyWh,
          revenueUnits: w.revenueUnits - baseRevenue,
          swaps: w.swaps - base.swaps,
          readings: w.readings - base.readings,
          quarantined: w.quarantined - base.quarantined,
        },
      )
    })
    for (const a of this.adjustments.values()) {
      this.rollups.add(
        {
          partition: a.partition,
          source: 'adjustment',
          poolId: a.device.poolId,
          assetClass: a.device.assetClass,
          timeMs: epochStartMs(this.settings.grid, a.bookedEpoch),
        },
        a,
      )
    }
  }

  /** Drops the rollups the touched partitions can no longer change (after they were taken). */
  private pruneRollups(): void {
    for (const partition of this.touchedPartitions) {
      if (!this.watermarks.has(partition)) continue
      const fromMs = epochStartMs(this.settings.grid, this.bookingEpoch(partition))
      if (fromMs <= (this.rollupsPrunedTo.get(partition) ?? Number.NEGATIVE_INFINITY)) continue
      this.rollups.prune(partition, fromMs)
      this.rollupsPrunedTo.set(partition, fromMs)
    }
  }

  /** Everything to write since the last call, then forgets it. */
  takeWrites(): Writes {
    const dirty = [...this.dirtyIntervals.values()]
    const intervals = dirty.map(
      ({ partition: _, base: __, ...w }): IntervalWrite => ({
        ...w,
        revenueUnits: this.revenue(w.device, w.intervalStartMs, w),
      }),
    )
    this.rollUp(
      intervals,
      dirty.map((d) => d.partition),
      dirty.map((d) => d.base),
    )
    const writes: Writes = {
      intervals,
      adjustments: [...this.adjustments.values()],
      readings: this.readingWrites,
      quarantines: this.quarantineWrites,
      states: [...this.dirtyStates].flatMap((s) =>
        s.meter && s.open
          ? [
              {
                deviceId: s.device.deviceId,
                partition: s.partition,
                poolId: s.device.poolId,
                meter: s.meter,
                open: s.open,
                boot: s.boot,
              },
            ]
          : [],
      ),
      watermarks: new Map([...this.dirtyWatermarks].map((p) => [p, this.watermarks.get(p) as number])),
      rollups: this.rollups.take(),
      offsets: [...this.touchedPartitions].flatMap((partition) => {
        const offset = this.committableOffset(partition)
        return offset === undefined ? [] : [{ partition, offset }]
      }),
    }
    this.pruneRollups()
    this.touchedPartitions = new Set()
    this.dirtyIntervals = new Map()
    this.adjustments = new Map()
    this.readingWrites = []
    this.quarantineWrites = []
    this.dirtyStates = new Set()
    this.dirtyWatermarks = new Set()
    return writes
  }

  /** The offset to commit for a partition: nothing at or after a record still waiting or held. */
  committableOffset(partition: number): string | undefined {
    const next = this.nextOffsets.get(partition)
    if (next === undefined) return undefined
    let lowest = next
    const firstHeld = this.held.get(partition)?.[0]
    if (firstHeld && BigInt(firstHeld.offset) < lowest) lowest = BigInt(firstHeld.offset)
    for (const state of this.waiting.get(partition) ?? []) {
      for (const p of state.pending.values()) if (BigInt(p.offset) < lowest) lowest = BigInt(p.offset)
    }
    return lowest.toString()
  }

  /** Partitions where readings wait for a seq gap. */
  partitionsWithPending(): number[] {
    return [...this.waiting].filter(([, devices]) => devices.size > 0).map(([p]) => p)
  }

  /** Devices known, and readings waiting for a gap: what bounds this process's memory. */
  sizes(): { devices: number; pendingReadings: number; heldRecords: number; rollups: number } {
    let pendingReadings = 0
    for (const set of this.waiting.values()) for (const s of set) pendingReadings += s.pending.size
    let heldRecords = 0
    for (const records of this.held.values()) heldRecords += records.length
    return { devices: this.devices.size, pendingReadings, heldRecords, rollups: this.rollups.size }
  }
}

/** Device time of the device's latest reading waiting for a gap. */
function latestPendingTs(state: DeviceState): number {
  let latest = Number.NEGATIVE_INFINITY
  for (const p of state.pending.values()) if (p.reading.ts > latest) latest = p.reading.ts
  return latest
}
