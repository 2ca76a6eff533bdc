/**
 * Per-device meter accounting: the one place that turns a device's readings, in seq order, into
 * energy (and swaps) per interval, and that decides which readings are anomalous. The aggregator
 * runs it on what arrives; the simulator's ground-truth ledger runs it on what the devices sent;
 * so both agree to the watt-hour.
 *
 * An anomalous reading is quarantined: it is kept with its reason, pays nothing, and becomes the
 * new baseline, so the energy between the last good reading and it stays unpaid (a meter change,
 * a glitch, a tampered device: a person decides, the contract does not).
 *
 * Accounting time never runs backwards: a reading whose device time is earlier than the device's
 * accounting time (a clock stepped back: NTP, or an RTC reset by a battery-less reboot) is booked
 * at that accounting time plus the time that really elapsed since the device's last reading: the
 * device's own clock since that reading when it still runs forward from it (the step was before),
 * else the receive-time difference × the caller's device-time speed (the step was in between: its
 * clock says nothing). Never past the clock bound. So the accounting time goes on with real time
 * however far back the clock went, the rate checks measure the time that really elapsed (a clock
 * 1 h behind for good quarantines nothing; energy over rating in that time still does), and the
 * energy is booked when it was earned. Rate checks also allow the elapsed time to be longer than
 * device time says by `clockStepToleranceMs`, so an NTP step back of a few seconds between two
 * readings quarantines nothing. A device time more than `maxClockAheadMs` beyond the
 * receive time (or the caller's `ClockBound`) is a clock that jumped into the future: the reading
 * is paid but booked at the receive time (the bound's `clampToMs`; never before the device's last
 * accounting time), the best estimate of when it was really sent, so its revenue stays in the
 * epoch it was earned in however long the clock stays ahead, and the jump becomes neither the
 * device's time nor anybody's watermark. The ground-truth ledger, given the true send time for the
 * receive time, reproduces it exactly; the oracle's replay has the archived receive times.
 */
import type { TimeGrid } from '../epochs/grid.ts'
import { intervalStart } from '../epochs/grid.ts'
import type { AssetClass, Reading } from '../telemetry/types.ts'
import { type IntervalEnergy, splitAcrossIntervals } from './split.ts'

export interface MeterState {
  readonly lastSeq: number
  /** Accounting time: the latest device time seen (never decreases). */
  readonly lastTs: number
  readonly lastRegisterWh: number
  /** Swap cabinets only. */
  readonly lastSwapCount: number | undefined
  /** Instantaneous power of the last reading, when it reported one. */
  readonly lastPowerW: number | undefined
  /**
   * The last reading's own device time (`lastTs` can be later: a clock behind). Absent in states
   * persisted before it existed.
   */
  readonly lastDeviceTs?: number | undefined
  /** The last reading's receive time, when it had one: measures real time for a clock behind. */
  readonly lastReceivedAtMs?: number | undefined
  /**
   * The accounting time the device's last positive step took (its cadence): the elapsed time
   * expected when neither its clock nor the receive times say (a backlog delivered at once).
   */
  readonly lastStepMs?: number | undefined
}

export const ANOMALY_REASONS = {
  REGISTER_BACKWARDS: 'the energy register went backwards (meter replaced or faulty)',
  REGISTER_JUMP: 'the energy register rose faster than the device can deliver at its rated power',
  COUNTER_BACKWARDS: 'the swap counter went backwards (controller replaced or faulty)',
  POWER_ABOVE_RATED: 'the reported power is above the rated capacity',
  PV_ENERGY_AT_NIGHT: 'a PV plant reported energy while the sun was down',
  ENERGY_POWER_MISMATCH: 'the energy between readings does not match the reported power over that time',
  SOC_IMPOSSIBLE: 'a swap reported an impossible state of charge',
  CLOCK_SKEW: 'the device time is too far from the time the reading was received',
  COUNTER_JUMP: 'the swap counter rose faster than a cabinet can swap (controller replaced or faulty)',
} as const
export type AnomalyReason = keyof typeof ANOMALY_REASONS
export const ANOMALY_REASON_CODES = Object.keys(ANOMALY_REASONS) as AnomalyReason[]

export interface Anomaly {
  readonly reason: AnomalyReason
  readonly detail: string
}

/**
 * Corrections of a reading's time that keep its energy: the reading is paid, booked at another
 * accounting time than its device time, and counted by code.
 */
export const CLOCK_CORRECTIONS = {
  CLOCK_BEHIND:
    'device time earlier than the device’s accounting time: booked at that time plus the time that really elapsed since its last reading (its own clock since then, else the receive times)',
  CLOCK_AHEAD:
    'device time beyond the credible bound (receive time + tolerance): booked at the receive time (not before the device’s last accounting time)',
} as const
export type ClockCorrection = keyof typeof CLOCK_CORRECTIONS
export const CLOCK_CORRECTION_CODES = Object.keys(CLOCK_CORRECTIONS) as ClockCorrection[]

/**
 * The latest device time the caller finds credible for this reading, and where a reading beyond
 * it is booked (`clampToMs`, or the device's last accounting time when that is later). Without
 * one, `accountReading` derives it from the receive time: `receivedAtMs + maxClockAheadMs`,
 * booked at `receivedAtMs`.
 */
export interface ClockBound {
  readonly maxTs: number
  readonly clampToMs: number
  /**
   * Device milliseconds per receive-time millisecond (an accelerated partition's speed; 1 when
   * absent): scales a receive-time difference into the device time that elapsed.
   */
  readonly deviceTimeSpeed?: number
}

/** Thresholds of the anomaly checks; one set for the pipeline and the ledger. */
export interface AnomalyRules {
  /** Flag readings whose average power since the last one exceeds rated × this. */
  readonly maxPowerFactor: number
  /** Local hours [from, to) during which PV energy is impossible. */
  readonly pvNight: { readonly fromHour: number; readonly toHour: number; readonly utcOffsetHours: number }
  /** Energy may differ from the trapezoid of reported powers × time by this fraction… */
  readonly powerMismatchFraction: number
  /** …plus this many Wh. */
  readonly powerMismatchSlackWh: number
  /** |device time − receive time| above this is CLOCK_SKEW; 0 turns the check off. */
  readonly maxClockSkewMs: number
  /** A swap cabinet's register rises by at most this per swap (one full battery). */
  readonly maxEnergyPerSwapWh: number
  /**
   * Real time between two readings may exceed their device-time difference by this much (a
   * clock stepped back by NTP): rate checks allow for it, so such a step quarantines nothing.
   */
  readonly clockStepToleranceMs: number
  /** A cabinet's swap counter rises by at most one plus this rate × elapsed time. */
  readonly maxSwapsPerHour: number
  /** A device time more than this beyond the receive time is CLOCK_AHEAD; 0 turns it off. */
  readonly maxClockAheadMs: number
}

export const DEFAULT_ANOMALY_RULES: AnomalyRules = {
  maxPowerFactor: 1.2,
  pvNight: { fromHour: 20, toHour: 5, utcOffsetHours: 8 },
  powerMismatchFraction: 0.35,
  powerMismatchSlackWh: 20,
  maxClockSkewMs: 0,
  maxEnergyPerSwapWh: 3_000,
  // 10 s: NTP corrections of a running device are milliseconds to a few seconds; at 10 kW
  // rated it loosens the jump check by 33 Wh.
  clockStepToleranceMs: 10_000,
  // One swap takes a rider about a minute; 120 per hour leaves room for two at a time.
  maxSwapsPerHour: 120,
  // Device clocks run within seconds of true time under NTP; a jump into the future is hours.
  maxClockAheadMs: 300_000,
}

export interface MeteredDevice {
  readonly assetClass: AssetClass
  readonly ratedPowerW: number
}

export interface AccountedReading {
  readonly state: MeterState
  readonly energy: readonly IntervalEnergy[]
  /** Swaps booked in the interval of the reading's accounting time (0 for other classes). */
  readonly swaps: number
  readonly swapIntervalStartMs: number
  readonly anomaly: Anomaly | undefined
  /** Set when the reading was booked at another time than its device time. */
  readonly clockCorrection: ClockCorrection | undefined
}

const HOUR_MS = 3_600_000

function swapCountOf(reading: Reading): number | undefined {
  return reading.type === 'swap.event' || reading.type === 'swap.slots' ? reading.swapCount : undefined
}

function powerOf(reading: Reading): number | undefined {
  return reading.type === 'charger.meter'
    ? reading.powerW
    : reading.type === 'pv.inverter'
      ? reading.acPowerW
      : undefined
}

function isNight(rules: AnomalyRules, tMs: number): boolean {
  const { fromHour, toHour, utcOffsetHours } = rules.pvNight
  const hour = (((tMs / HOUR_MS + utcOffsetHours) % 24) + 24) % 24
  return fromHour > toHour ? hour >= fromHour || hour < toHour : hour >= fromHour && hour < toHour
}

function findAnomaly(
  rules: AnomalyRules,
  device: MeteredDevice,
  state: MeterState,
  reading: Reading,
  receivedAtMs: number | undefined,
  ahead: boolean,
  elapsed: Elapsed,
): Anomaly | undefined {
  if (
    rules.maxClockSkewMs > 0 &&
    receivedAtMs !== undefined &&
    Math.abs(reading.ts - receivedAtMs) > rules.maxClockSkewMs
  ) {
    return {
      reason: 'CLOCK_SKEW',
      detail: `device time ${reading.ts} is ${reading.ts - receivedAtMs} ms from receive time`,
    }
  }
  const deltaWh = reading.registerWh - state.lastRegisterWh
  if (deltaWh < 0) {
    return {
      reason: 'REGISTER_BACKWARDS',
      detail: `registerWh ${reading.registerWh} < previous ${state.lastRegisterWh} (seq ${state.lastSeq})`,
    }
  }
  const swapCount = swapCountOf(reading)
  if (swapCount !== undefined && state.lastSwapCount !== undefined && swapCount < state.lastSwapCount) {
    return { reason: 'COUNTER_BACKWARDS', detail: `swapCount ${swapCount} < previous ${state.lastSwapCount}` }
  }
  // The device's own clock measures the elapsed time, also when it is ahead (its readings are
  // then booked at the receive time, but their energy may have taken that long to accumulate:
  // the rate checks stay as loose as the device's clock says); for a clock behind, the time that
  // really elapsed (`elapsedBehind`).
  const durationMs = elapsed.durationMs
  // Real time since the last reading lies in [durationMs, durationMs + tolerance]: the device's
  // clock may have stepped back by up to the tolerance in between.
  const longestMs = durationMs + rules.clockStepToleranceMs
  const swapsDelta =
    swapCount !== undefined && state.lastSwapCount !== undefined ? swapCount - state.lastSwapCount : 0
  const maxSwaps = 1 + Math.floor((rules.maxSwapsPerHour * longestMs) / HOUR_MS)
  if (swapsDelta > maxSwaps) {
    return {
      reason: 'COUNTER_JUMP',
      detail: `swapCount +${swapsDelta} in ${durationMs} ms exceeds ${maxSwaps} (previous ${state.lastSwapCount})`,
    }
  }
  const powerW = powerOf(reading)
  if (powerW !== undefined && powerW > device.ratedPowerW * rules.maxPowerFactor) {
    return { reason: 'POWER_ABOVE_RATED', detail: `power ${powerW} W > rated ${device.ratedPowerW} W` }
  }
  // A cabinet's register moves by whole batteries at each swap; other meters by power × time
  // (one watt-hour of slack for meters that round up).
  const maxWh =
    device.assetClass === 'swap'
      ? Math.max(0, swapsDelta) * rules.maxEnergyPerSwapWh
      : (device.ratedPowerW * rules.maxPowerFactor * longestMs) / HOUR_MS + 1
  if (deltaWh > maxWh) {
    return {
      reason: 'REGISTER_JUMP',
      detail: `+${deltaWh} Wh in ${durationMs} ms exceeds ${Math.floor(maxWh)} Wh at rated power`,
    }
  }
  // A clock ahead says nothing about the hour or the elapsed time: only the register checks hold.
  if (ahead) return socProblem(reading)
  if (
    device.assetClass === 'pv' &&
    deltaWh > 0 &&
    isNight(rules, state.lastTs) &&
    isNight(rules, elapsed.accountingTs) &&
    elapsed.accountingTs - state.lastTs < 6 * HOUR_MS
  ) {
    return {
      reason: 'PV_ENERGY_AT_NIGHT',
      detail: `+${deltaWh} Wh between ${new Date(state.lastTs).toISOString()} and ${new Date(reading.ts).toISOString()}`,
    }
  }
  if (powerW !== undefined && state.lastPowerW !== undefined && durationMs > 0 && elapsed.exact) {
    // Consistent when some real duration in [durationMs, longestMs] explains the energy.
    const averageW = (state.lastPowerW + powerW) / 2
    const shortestWh = (averageW * durationMs) / HOUR_MS
    const longestWh = (averageW * longestMs) / HOUR_MS
    const expectedWh = Math.min(Math.max(deltaWh, shortestWh), longestWh)
    const allowedWh = rules.powerMismatchFraction * Math.max(expectedWh, deltaWh) + rules.powerMismatchSlackWh
    if (Math.abs(deltaWh - expectedWh) > allowedWh) {
      return {
        reason: 'ENERGY_POWER_MISMATCH',
        detail: `+${deltaWh} Wh where reported power implies ${Math.round(shortestWh)}..${Math.round(longestWh)} Wh`,
      }
    }
  }
  return socProblem(reading)
}

function socProblem(reading: Reading): Anomaly | undefined {
  if (
    reading.type === 'swap.event' &&
    (reading.socOutPermille < reading.socInPermille || reading.socOutPermille === 0)
  ) {
    return {
      reason: 'SOC_IMPOSSIBLE',
      detail: `state of charge out ${reading.socOutPermille}‰ < in ${reading.socInPermille}‰`,
    }
  }
  return undefined
}

/** The time a reading's energy accumulated over, as the rate checks see it. */
interface Elapsed {
  /** Where the reading is booked. */
  readonly accountingTs: number
  readonly durationMs: number
  /**
   * False when the duration is only an estimate (receive times or the device's cadence: the
   * reading may have waited before it was sent); the power-mismatch check then does not apply.
   */
  readonly exact: boolean
  readonly correction: ClockCorrection | undefined
  /**
   * The device's cadence as this reading shows it: its own clock's step when that clock ran on
   * from the last reading (right even while the clock is ahead or behind), else the step booked.
   */
  readonly cadenceMs?: number | undefined
}

/**
 * The best estimate of the real time between the device's last reading and this one when its
 * clock says nothing about it: the receive-time difference scaled to device time, but at least
 * the step the device's last reading was booked over (its cadence). Receive times alone collapse
 * in a backlog (a broker or ingest outage delivers minutes or hours of readings at once), where
 * 0 ms between honest readings made every one of them a REGISTER_JUMP; the cadence does not.
 * Undefined without receive times.
 */
function expectedElapsedMs(
  state: MeterState,
  receivedAtMs: number | undefined,
  bound: ClockBound | undefined,
): number | undefined {
  if (receivedAtMs === undefined || state.lastReceivedAtMs === undefined) return undefined
  const byReceive = Math.max(0, receivedAtMs - state.lastReceivedAtMs) * (bound?.deviceTimeSpeed ?? 1)
  return Math.max(byReceive, state.lastStepMs ?? 0)
}

/**
 * Where a reading is booked and over what time its energy accumulated (module comment; the
 * cases in docs/architecture.md, "Device clocks"):
 * - consistent: the device's time, when it neither runs back nor leaps ahead;
 * - `CLOCK_AHEAD`: beyond the clock bound, or leapt forward further than the time that really
 *   elapsed allows, or running on from such a reading: booked at the device's accounting time
 *   plus the real time elapsed (its own clock difference while it runs on from the leap, else
 *   the expected elapsed time), never past the clock's now;
 * - `CLOCK_BEHIND`: before the accounting time (`elapsedBehind`).
 */
function elapsedOf(
  rules: AnomalyRules,
  state: MeterState | undefined,
  reading: Reading,
  receivedAtMs: number | undefined,
  bound: ClockBound | undefined,
): Elapsed {
  const pastBound = bound !== undefined && reading.ts > bound.maxTs
  if (!state) {
    return pastBound
      ? { accountingTs: bound.clampToMs, durationMs: 0, exact: true, correction: 'CLOCK_AHEAD' }
      : { accountingTs: reading.ts, durationMs: 0, exact: true, correction: undefined }
  }
  const lastDeviceTs = state.lastDeviceTs ?? state.lastTs
  // The device's own clock since its last reading.
  const ownMs = reading.ts - lastDeviceTs
  // The last reading was booked before its device time: the clock was ahead.
  const wasAhead = lastDeviceTs > state.lastTs
  const runsOn = wasAhead && ownMs >= 0
  const expectedMs = expectedElapsedMs(state, receivedAtMs, bound)
  const finiteBound = bound !== undefined && Number.isFinite(bound.maxTs)
  // How far a clock may run ahead of the elapsed time before it counts as leapt. Not the clock
  // bound's tolerance, which at 600× is hours (the partition clock's anchor may have been
  // received late): between two readings of one device the expected time is its cadence at
  // least, so an honest device's step never exceeds it by the tolerance.
  const slackMs = rules.maxClockAheadMs
  // A leap: further beyond the accounting time (for a clock running on from a leap: beyond its
  // last reading) than the time that really elapsed, plus the slack. This catches a clock that
  // jumped into the future in a backlog too, where the clock bound (the receive time, or the
  // partition's clock) is hours past the readings' true times and says nothing.
  // Accelerated runs only: there the bound carries hours of slack (the anchor's lateness × the
  // speed) and a backlog puts it a day past the readings. In real time the bound is the receive
  // time + `maxClockAheadMs` and catches a jump unless the backlog is older than it; and readings
  // uploaded faster than they were taken (a gateway's history, a replay) have receive-time
  // differences far below their cadence, where an honest charger's idle hours would look leapt.
  const accelerated = (bound?.deviceTimeSpeed ?? 1) > 1
  const leapMs = runsOn ? ownMs : reading.ts - state.lastTs
  const leapt =
    accelerated && expectedMs !== undefined && rules.maxClockAheadMs > 0 && leapMs > expectedMs + slackMs
  // A clock running on from a leap is right again when it agrees with the clock's now.
  const rightAgain =
    runsOn && finiteBound && Math.abs(reading.ts - bound.clampToMs) <= rules.maxClockAheadMs && !pastBound
  // The device's own clock step is its cadence whenever it ran on from the last reading.
  const cadenceMs = ownMs > 0 && !leapt ? ownMs : undefined
  if (pastBound || leapt || (runsOn && !rightAgain)) {
    // A leap's own clock says nothing: the expected elapsed time stands for it (the receive
    // times, at least the device's cadence), else the bound's clock.
    const stepMs =
      runsOn && !leapt
        ? ownMs
        : ownMs >= 0
          ? Math.min(ownMs, expectedMs ?? Number.POSITIVE_INFINITY)
          : (expectedMs ?? Number.POSITIVE_INFINITY)
    const capMs = finiteBound ? bound.clampToMs : Number.POSITIVE_INFINITY
    let target = Math.min(state.lastTs + stepMs, capMs)
    if (!Number.isFinite(target)) target = bound?.clampToMs ?? state.lastTs
    const accountingTs = Math.max(state.lastTs, target)
    return {
      accountingTs,
      // The device's own clock measures the elapsed time, also when it is ahead: its energy
      // may have taken that long to accumulate (the rate checks stay as loose as its clock says).
      durationMs: Math.max(accountingTs - state.lastTs, ownMs >= 0 ? ownMs : (expectedMs ?? 0)),
      exact: true,
      correction: 'CLOCK_AHEAD',
      cadenceMs,
    }
  }
  if (reading.ts < state.lastTs) return { ...elapsedBehind(state, reading, expectedMs, bound), cadenceMs }
  // Right again after readings booked ahead at an estimate (the clamp of a first reading, or a
  // leap's expected step): the clock stepped back in between, so the time since the last
  // reading's accounting time says as little as for a step back behind it. The rate checks
  // measure at least the expected elapsed time and the power-mismatch check is skipped: a clamp
  // one or two minutes ahead of true time left the first honest step 2.5 min long and its 580 Wh
  // at 7 kW a REGISTER_JUMP (a fleet at 400× with the speed set to 600×, issue 8).
  const healedMs = wasAhead && ownMs < 0 ? expectedMs : undefined
  return {
    accountingTs: reading.ts,
    durationMs: Math.max(reading.ts - state.lastTs, healedMs ?? 0),
    exact: healedMs === undefined,
    correction: undefined,
    cadenceMs,
  }
}

/**
 * A reading behind the device's accounting time: booked at that time plus what really elapsed
 * since the device's last reading, never past the clock bound. Not at the accounting time itself
 * (as before): a clock stepped back 1 h would book an hour of energy into one interval over
 * 0 ms, quarantined as REGISTER_JUMP reading after reading until the clock caught up.
 */
function elapsedBehind(
  state: MeterState,
  reading: Reading,
  expectedMs: number | undefined,
  bound: ClockBound | undefined,
): Elapsed {
  let elapsedMs = 0
  let exact = true
  if (state.lastDeviceTs !== undefined && reading.ts >= state.lastDeviceTs) {
    // The clock stepped back before the last reading and runs on from it: its own difference is
    // the elapsed time (also for readings uploaded together, which share one receive time).
    elapsedMs = reading.ts - state.lastDeviceTs
  } else if (expectedMs !== undefined) {
    // The step was in between: the receive times, or the device's cadence, estimate the time
    // that elapsed (the reading may have waited before it was sent).
    elapsedMs = expectedMs
    exact = false
  }
  // Never past the bound: the accounting time then runs no faster than an honest device's, and
  // a clock that goes back and forth gains nothing (the durations add up to its advance).
  const accountingTs = Math.max(state.lastTs, Math.min(state.lastTs + elapsedMs, bound?.maxTs ?? Infinity))
  return { accountingTs, durationMs: accountingTs - state.lastTs, exact, correction: 'CLOCK_BEHIND' }
}

/**
 * Applies one reading (the next in (boot, seq) order) to a device's meter state. A device time
 * beyond the clock bound (`clock`, else `receivedAtMs + rules.maxClockAheadMs`), or leapt ahead
 * of the real time elapsed, is not used for accounting (`elapsedOf`), keeping its energy. A
 * device time behind the accounting time is booked after it by the time that really elapsed
 * (`elapsedBehind`).
 */
export function accountReading(
  grid: TimeGrid,
  rules: AnomalyRules,
  device: MeteredDevice,
  state: MeterState | undefined,
  reading: Reading,
  receivedAtMs?: number,
  clock?: ClockBound,
): AccountedReading {
  const bound =
    clock ??
    (receivedAtMs !== undefined && rules.maxClockAheadMs > 0
      ? { maxTs: receivedAtMs + rules.maxClockAheadMs, clampToMs: receivedAtMs }
      : undefined)
  const elapsed = elapsedOf(rules, state, reading, receivedAtMs, bound)
  const clockCorrection = elapsed.correction
  const ahead = clockCorrection === 'CLOCK_AHEAD'
  const accountingTs = elapsed.accountingTs
  const stepMs = state ? accountingTs - state.lastTs : 0
  const next: MeterState = {
    lastSeq: reading.seq,
    lastTs: accountingTs,
    lastRegisterWh: reading.registerWh,
    lastSwapCount: swapCountOf(reading),
    // After a reading booked at a corrected time, the next one's elapsed time is not what its power
    // integrates over: no power, no mismatch check for it.
    lastPowerW: ahead ? undefined : powerOf(reading),
    lastDeviceTs: reading.ts,
    lastReceivedAtMs: receivedAtMs,
    // Readings of one timestamp (or a step of 0) keep the cadence seen before.
    lastStepMs: elapsed.cadenceMs ?? (stepMs > 0 ? stepMs : state?.lastStepMs),
  }
  const swapIntervalStartMs = intervalStart(grid, accountingTs)
  if (!state)
    return { state: next, energy: [], swaps: 0, swapIntervalStartMs, anomaly: undefined, clockCorrection }
  const anomaly = findAnomaly(rules, device, state, reading, receivedAtMs, ahead, elapsed)
  if (anomaly) return { state: next, energy: [], swaps: 0, swapIntervalStartMs, anomaly, clockCorrection }
  const swapCount = next.lastSwapCount
  const deltaWh = reading.registerWh - state.lastRegisterWh
  return {
    state: next,
    // Swap energy is handed over at the swap, not spread over time like a meter's.
    energy:
      device.assetClass === 'swap'
        ? deltaWh > 0
          ? [{ intervalStartMs: swapIntervalStartMs, energyWh: deltaWh }]
          : []
        : splitAcrossIntervals(grid, state.lastTs, accountingTs, deltaWh),
    swaps: swapCount !== undefined && state.lastSwapCount !== undefined ? swapCount - state.lastSwapCount : 0,
    swapIntervalStartMs,
    anomaly: undefined,
    clockCorrection,
  }
}
