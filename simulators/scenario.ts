/**
 * A fleet run as a pure function of its seed: each `tick(toMs)` advances every device to device
 * time `toMs` and returns what goes on the wire, genuine messages and injected faults alike,
 * while the ground-truth ledger records what the devices really sent. Pacing and MQTT are the
 * runner's business (./runner.ts), so this can be tested without a broker.
 */

import { getOrCreate } from '../core/collections.ts'
import { type AnomalyRules, DEFAULT_ANOMALY_RULES } from '../core/energy/meter-account.ts'
import type { TimeGrid } from '../core/epochs/grid.ts'
import { deriveDeviceSeed, keyPairFromSeed } from '../core/identity/keys.ts'
import { createRng, type Rng } from '../core/random/prng.ts'
import type { TariffBook } from '../core/revenue/tariffs.ts'
import { isV2Payload } from '../core/telemetry/decode.ts'
import { encodeTelemetry } from '../core/telemetry/sign.ts'
import { V2_BODY_OFFSET } from '../core/telemetry/signed.ts'
import { telemetryTopic } from '../core/telemetry/topic.ts'
import type { Reading, TelemetryMessageV1Wire, TelemetryVersion } from '../core/telemetry/types.ts'
import type { Fleet, SimulatedDevice } from './fleet/fleet.ts'
import { GroundTruthLedger } from './ledger.ts'

export const FAULT_KINDS = [
  'duplicate',
  'reorder',
  'late',
  'clockSkew',
  'offline',
  'meterReplace',
  'malformed',
  'badSignature',
  'unknownDevice',
  'replay',
  'oversize',
  'seqReset',
  'conflictingDuplicate',
  'clockStepBack',
  'clockStepForward',
  'counterJump',
  'clockStepBackLarge',
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/**
 * Probabilities. Per genuine message for the delivery faults (and `conflictingDuplicate`); per
 * device and tick for the faults that change the device rather than a message: `offline`,
 * `meterReplace`, `clockSkew`, `seqReset`, `clockStepBack`, `clockStepForward`, `counterJump`,
 * `clockStepBackLarge`.
 */
export const DEVICE_FAULT_KINDS: readonly FaultKind[] = [
  'offline',
  'meterReplace',
  'clockSkew',
  'seqReset',
  'clockStepBack',
  'clockStepForward',
  'counterJump',
  'clockStepBackLarge',
]

export type FaultRates = Readonly<Record<FaultKind, number>>

export const NO_FAULTS: FaultRates = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
  FaultKind,
  number
>

export interface ScenarioOptions {
  readonly grid: TimeGrid
  /** Readings per signed message in steady state (1 = one signature per reading). */
  readonly batchSize: number
  /** Readings per message when a device uploads its backlog after reconnecting. */
  readonly backlogBatchSize: number
  readonly faults: Partial<FaultRates>
  /** How long a late message is held back, device time. */
  readonly lateMs: number
  readonly offlineMs: number
  readonly skewMs: number
  /** An NTP step back: the device clock goes back this much, for good. */
  readonly clockStepBackMs: number
  /**
   * A reflash (boot + 1) whose clock comes back this much behind, for good (an RTC without a
   * battery, set from the firmware's build time): far more than a reading interval, so readings
   * are behind the device's accounting time until it catches up.
   */
  readonly clockStepBackLargeMs: number
  /** A clock that jumps into the future by this much… */
  readonly clockStepForwardMs: number
  /** …and stays there for this long (true time) until NTP puts it right. */
  readonly clockForwardForMs: number
  /** A replaced swap controller's counter starts this far above the old one. */
  readonly counterJumpSwaps: number
  /** Size of an oversize payload; must exceed ingest's maximum message size. */
  readonly oversizeBytes: number
  /** The rules the ledger applies (the aggregator's must be the same). */
  readonly anomalyRules: AnomalyRules
  /** With a tariff book the ledger also computes revenue. */
  readonly tariffs: TariffBook | undefined
  /** Telemetry version the devices publish (v1 only during the migration window). */
  readonly telemetryVersion: TelemetryVersion
}

export const DEFAULT_SCENARIO: Omit<ScenarioOptions, 'grid'> = {
  batchSize: 1,
  backlogBatchSize: 50,
  faults: {},
  lateMs: 30 * 60_000,
  offlineMs: 45 * 60_000,
  skewMs: 90_000,
  clockStepBackMs: 5_000,
  clockStepBackLargeMs: 3_600_000,
  clockStepForwardMs: 6 * 3_600_000,
  clockForwardForMs: 30 * 60_000,
  counterJumpSwaps: 50_000,
  oversizeBytes: 300 * 1024,
  anomalyRules: DEFAULT_ANOMALY_RULES,
  tariffs: undefined,
  telemetryVersion: 2,
}

export type PublishKind = 'genuine' | FaultKind

export interface Publish {
  readonly topic: string
  readonly payload: Buffer
  readonly deviceId: string
  readonly kind: PublishKind
  /** Genuine readings carried (0 for junk). */
  readonly readings: number
}

export interface ScenarioCounters {
  genuineMessages: number
  genuineReadings: number
  publishes: number
  readonly injected: Record<FaultKind, number>
}

interface DeviceFaultState {
  offlineUntilMs: number
  backlog: Reading[]
  skewUntilMs: number
  skewOffsetMs: number
  held: Publish | undefined
  readonly history: Buffer[]
  /** The device's seq generation (persisted by a real device; +1 whenever its seq restarts). */
  boot: number
  /** What NTP steps back took off the device clock so far (≤ 0, for good). */
  clockBackMs: number
  /** A jump into the future, until NTP corrects it at `forwardUntilMs` (true time). */
  forwardOffsetMs: number
  forwardUntilMs: number
}

const HISTORY = 8

/** A genuine reading waiting for the ledger until the message that carries it goes out. */
interface TruthEntry {
  readonly deviceId: string
  readonly boot: number
  readonly reading: Reading
  sentAtMs: number | undefined
}

export class Scenario {
  readonly ledger: GroundTruthLedger
  readonly counters: ScenarioCounters
  private readonly options: ScenarioOptions
  private readonly rates: FaultRates
  private readonly rng: Rng
  private readonly state = new Map<string, DeviceFaultState>()
  private late: { releaseMs: number; publish: Publish }[] = []
  /** Conflicting copies, published at the start of the next tick (see `sendGenuine`). */
  private conflicts: Publish[] = []
  private ghosts = 0
  private nowMs: number
  /**
   * Per device, its genuine readings in (boot, seq) order, each recorded in the ledger once it
   * and all before it went out: the ledger's send time is the tick a reading is published in
   * (a reordered, late or backlogged one later than it was measured), which is what the
   * aggregator has as the receive time.
   */
  private readonly truth = new Map<string, TruthEntry[]>()
  private readonly entryOf = new WeakMap<Reading, TruthEntry>()
  /** By payload: a duplicate or replay is the same bytes, and may go out before the genuine message. */
  private readonly readingsOf = new WeakMap<Buffer, readonly Reading[]>()

  constructor(
    private readonly fleet: Fleet,
    options: Partial<ScenarioOptions> & Pick<ScenarioOptions, 'grid'>,
  ) {
    this.options = { ...DEFAULT_SCENARIO, ...options }
    this.rates = { ...NO_FAULTS, ...this.options.faults }
    if (this.options.telemetryVersion === 1 && this.rates.seqReset > 0) {
      throw new RangeError('seqReset needs telemetry v2: v1 has no boot, so its seq can never restart')
    }
    this.rng = createRng(fleet.spec.seed, 'faults')
    this.ledger = new GroundTruthLedger(
      this.options.grid,
      new Map(fleet.devices.map((d) => [d.record.deviceId, d.record])),
      this.options.anomalyRules,
      this.options.tariffs,
    )
    this.counters = {
      genuineMessages: 0,
      genuineReadings: 0,
      publishes: 0,
      injected: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    }
    this.nowMs = fleet.spec.startMs
    for (const d of fleet.devices) {
      this.state.set(d.record.deviceId, {
        offlineUntilMs: 0,
        backlog: [],
        skewUntilMs: 0,
        skewOffsetMs: 0,
        held: undefined,
        history: [],
        boot: 0,
        clockBackMs: 0,
        forwardOffsetMs: 0,
        forwardUntilMs: 0,
      })
    }
  }

  get timeMs(): number {
    return this.nowMs
  }

  /** Advances all devices to device time `toMs` and returns what is published, in order. */
  tick(toMs: number): Publish[] {
    const out: Publish[] = this.conflicts
    this.conflicts = []
    for (const device of this.fleet.devices) this.tickDevice(device, toMs, out)
    const due = this.late.filter((l) => l.releaseMs <= toMs)
    if (due.length > 0) {
      this.late = this.late.filter((l) => l.releaseMs > toMs)
      for (const l of due) out.push(l.publish)
    }
    this.nowMs = toMs
    this.counters.publishes += out.length
    this.sent(out, toMs)
    return out
  }

  /**
   * The genuine readings of `out` (or copies of them) went out at `atMs`: the ledger records
   * each device's readings up to the first one still held back.
   */
  private sent(out: readonly Publish[], atMs: number): void {
    const touched = new Set<string>()
    for (const p of out) {
      if (p.kind !== 'genuine' && p.kind !== 'duplicate' && p.kind !== 'replay') continue
      for (const r of this.readingsOf.get(p.payload) ?? []) {
        const entry = this.entryOf.get(r)
        if (entry && entry.sentAtMs === undefined) {
          entry.sentAtMs = atMs
          touched.add(entry.deviceId)
        }
      }
    }
    for (const deviceId of touched) {
      const queue = this.truth.get(deviceId) ?? []
      let done = 0
      for (const e of queue) {
        if (e.sentAtMs === undefined) break
        this.ledger.record(deviceId, e.boot, [e.reading], e.sentAtMs)
        done += 1
      }
      queue.splice(0, done)
    }
  }

  /** Everything still held back (late, reordered, offline backlogs), as at the end of a run. */
  flush(): Publish[] {
    const out: Publish[] = this.conflicts
    this.conflicts = []
    for (const device of this.fleet.devices) {
      const s = this.stateOf(device)
      if (s.backlog.length > 0) this.uploadBacklog(device, s, out)
      if (s.held) out.push(s.held)
      s.held = undefined
      s.offlineUntilMs = 0
    }
    for (const l of this.late) out.push(l.publish)
    this.late = []
    this.counters.publishes += out.length
    this.sent(out, this.nowMs)
    return out
  }

  private stateOf(device: SimulatedDevice): DeviceFaultState {
    return this.state.get(device.record.deviceId) as DeviceFaultState
  }

  private count(kind: FaultKind): void {
    this.counters.injected[kind] += 1
  }

  /** Draws a fault of a kind added with issue 8 only when its rate is set, so runs without it draw as before. */
  private hits(kind: FaultKind): boolean {
    const rate = this.rates[kind]
    return rate > 0 && this.rng.chance(rate)
  }

  /**
   * The device faults of issue 8, which cost nothing: a reflash (boot + 1, seq from 1; only
   * when nothing of the old boot is still held back, so the old boot's readings all go first),
   * an NTP step back, a jump of the clock into the future, a replaced swap controller, and a
   * reboot whose clock comes back an hour behind for good.
   */
  private deviceFaults(device: SimulatedDevice, s: DeviceFaultState, toMs: number): void {
    const deviceId = device.record.deviceId
    if (this.hits('seqReset')) {
      const holding =
        s.held !== undefined || s.backlog.length > 0 || this.late.some((l) => l.publish.deviceId === deviceId)
      if (!holding) {
        this.count('seqReset')
        s.boot += 1
        device.model.restartSeq()
      }
    }
    if (this.hits('clockStepBack')) {
      this.count('clockStepBack')
      s.clockBackMs -= this.options.clockStepBackMs
    }
    if (this.hits('clockStepForward') && s.forwardUntilMs <= toMs) {
      this.count('clockStepForward')
      s.forwardOffsetMs = this.options.clockStepForwardMs
      s.forwardUntilMs = toMs + this.options.clockForwardForMs
    }
    if (this.hits('clockStepBackLarge')) {
      const holding =
        s.held !== undefined || s.backlog.length > 0 || this.late.some((l) => l.publish.deviceId === deviceId)
      // A reboot: a new boot, like a reflash, only when nothing of the old boot is held back.
      if (!holding) {
        this.count('clockStepBackLarge')
        s.boot += 1
        device.model.restartSeq()
        s.clockBackMs -= this.options.clockStepBackLargeMs
      }
    }
    if (this.hits('counterJump') && device.model.jumpCounter) {
      this.count('counterJump')
      device.model.jumpCounter(this.options.counterJumpSwaps)
    }
  }

  /** Device time as the device's clock shows it (offsets of the clock faults). */
  private stampClock(s: DeviceFaultState, readings: Reading[], toMs: number): Reading[] {
    const forwardMs = s.forwardOffsetMs
    const forwardUntilMs = s.forwardUntilMs
    if (forwardUntilMs <= toMs) {
      // NTP puts the clock right during this tick: readings from then on are stamped true.
      s.forwardOffsetMs = 0
      s.forwardUntilMs = 0
    }
    if (s.clockBackMs === 0 && forwardMs === 0) return readings
    return readings.map((r) => ({
      ...r,
      ts: r.ts + s.clockBackMs + (r.ts < forwardUntilMs ? forwardMs : 0),
    }))
  }

  private tickDevice(device: SimulatedDevice, toMs: number, out: Publish[]): void {
    const s = this.stateOf(device)
    const { deviceId } = device.record
    if (this.rng.chance(this.rates.meterReplace)) {
      this.count('meterReplace')
      device.model.replaceMeter(this.rng.int(0, 1000))
    }
    if (s.skewUntilMs <= toMs && this.rng.chance(this.rates.clockSkew)) {
      this.count('clockSkew')
      s.skewOffsetMs = this.rng.chance(0.5) ? this.options.skewMs : -this.options.skewMs
      s.skewUntilMs = toMs + this.options.offlineMs
    }
    this.deviceFaults(device, s, toMs)
    let readings = this.stampClock(s, device.model.advance(toMs), toMs)
    if (s.skewOffsetMs !== 0) {
      readings = readings.map((r) => (r.ts < s.skewUntilMs ? { ...r, ts: r.ts + s.skewOffsetMs } : r))
      if (s.skewUntilMs <= toMs) s.skewOffsetMs = 0
    }
    if (readings.length === 0 && !s.held) return
    const queue = getOrCreate(this.truth, deviceId, () => [])
    for (const reading of readings) {
      const entry: TruthEntry = { deviceId, boot: s.boot, reading, sentAtMs: undefined }
      queue.push(entry)
      this.entryOf.set(reading, entry)
    }
    this.counters.genuineReadings += readings.length

    if (s.offlineUntilMs === 0 && this.rng.chance(this.rates.offline)) {
      this.count('offline')
      s.offlineUntilMs = toMs + this.options.offlineMs
    }
    if (s.offlineUntilMs > 0) {
      s.backlog.push(...readings)
      if (s.offlineUntilMs > toMs) return
      s.offlineUntilMs = 0
      this.uploadBacklog(device, s, out)
      return
    }
    for (let i = 0; i < readings.length; i += this.options.batchSize) {
      this.sendGenuine(device, s, readings.slice(i, i + this.options.batchSize), toMs, out)
    }
    if (s.held && readings.length === 0) {
      out.push(s.held)
      s.held = undefined
    }
  }

  private uploadBacklog(device: SimulatedDevice, s: DeviceFaultState, out: Publish[]): void {
    const backlog = s.backlog
    s.backlog = []
    for (let i = 0; i < backlog.length; i += this.options.backlogBatchSize) {
      out.push(this.genuine(device, s, backlog.slice(i, i + this.options.backlogBatchSize)))
    }
  }

  private genuine(device: SimulatedDevice, s: DeviceFaultState, readings: readonly Reading[]): Publish {
    const { deviceId, assetClass } = device.record
    const payload = encodeTelemetry(
      this.options.telemetryVersion,
      deviceId,
      s.boot,
      readings,
      device.privateKey,
    )
    this.counters.genuineMessages += 1
    const publish: Publish = {
      topic: telemetryTopic(assetClass, deviceId),
      payload,
      deviceId,
      kind: 'genuine',
      readings: readings.length,
    }
    this.readingsOf.set(payload, readings)
    return publish
  }

  private sendGenuine(
    device: SimulatedDevice,
    s: DeviceFaultState,
    readings: Reading[],
    toMs: number,
    out: Publish[],
  ): void {
    const publish = this.genuine(device, s, readings)
    const { deviceId, assetClass } = device.record
    const topic = publish.topic
    const junk = (kind: FaultKind, payload: Buffer, onTopic = topic, from = deviceId): void => {
      this.count(kind)
      out.push({ topic: onTopic, payload, deviceId: from, kind, readings: 0 })
    }
    if (this.rng.chance(this.rates.replay) && s.history.length > 0) {
      junk('replay', this.rng.pick(s.history))
    }
    if (this.rng.chance(this.rates.late)) {
      this.count('late')
      this.late.push({ releaseMs: toMs + this.options.lateMs, publish })
    } else if (!s.held && this.rng.chance(this.rates.reorder)) {
      this.count('reorder')
      s.held = publish
    } else {
      out.push(publish)
      if (s.held) {
        out.push(s.held)
        s.held = undefined
      }
      // The first of two readings with one (deviceId, boot, seq) is the one the pipeline keeps,
      // so the copy goes out a tick after the genuine message: the runner publishes a tick only
      // once the broker acknowledged the one before (ingest: once Kafka has it), whereas two
      // messages of one tick may reach Kafka in either order through ingest's connections.
      if (this.hits('conflictingDuplicate')) {
        const [first, ...rest] = readings
        if (first) {
          const other = [{ ...first, registerWh: first.registerWh + 1 }, ...rest]
          this.count('conflictingDuplicate')
          this.conflicts.push({
            topic,
            payload: encodeTelemetry(
              this.options.telemetryVersion,
              deviceId,
              s.boot,
              other,
              device.privateKey,
            ),
            deviceId,
            kind: 'conflictingDuplicate',
            readings: 0,
          })
        }
      }
    }
    if (this.rng.chance(this.rates.duplicate)) junk('duplicate', publish.payload)
    s.history.push(publish.payload)
    if (s.history.length > HISTORY) s.history.shift()
    if (this.rng.chance(this.rates.malformed)) {
      junk(
        'malformed',
        this.rng.chance(0.5)
          ? publish.payload.subarray(0, publish.payload.length >> 1)
          : Buffer.from([0xff, 0xfe, 0x7b, 0x00]),
      )
    }
    if (this.rng.chance(this.rates.badSignature)) {
      junk('badSignature', tamper(publish.payload))
    }
    if (this.rng.chance(this.rates.unknownDevice)) {
      this.ghosts += 1
      const ghostId = `ghost-${String(this.ghosts).padStart(6, '0')}`
      const key = keyPairFromSeed(deriveDeviceSeed(this.fleet.spec.seed, ghostId))
      junk(
        'unknownDevice',
        encodeTelemetry(this.options.telemetryVersion, ghostId, 0, readings, key.privateKey),
        telemetryTopic(assetClass, ghostId),
        ghostId,
      )
    }
    if (this.rng.chance(this.rates.oversize)) {
      const padding = 'x'.repeat(this.options.oversizeBytes)
      junk('oversize', Buffer.from(JSON.stringify({ v: 1, deviceId, readings: [], sig: '', padding })))
    }
  }
}

/**
 * The same message with 10 kWh more on its first reading's register and the old signature: v2
 * changes the signed body bytes in place, v1 the parsed message.
 */
function tamper(payload: Buffer): Buffer {
  const v2 = isV2Payload(payload)
  const text = v2 ? payload.subarray(V2_BODY_OFFSET, payload.length - 1).toString() : payload.toString()
  const message = JSON.parse(text) as Pick<TelemetryMessageV1Wire, 'readings'>
  const [first, ...rest] = message.readings
  const tampered = JSON.stringify({
    ...message,
    readings: [{ ...first, registerWh: (first?.registerWh ?? 0) + 10_000 }, ...rest],
  })
  if (!v2) return Buffer.from(tampered)
  return Buffer.concat([payload.subarray(0, V2_BODY_OFFSET), Buffer.from(tampered), Buffer.from('}')])
}
