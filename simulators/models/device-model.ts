/**
 * What every simulated device shares: its identity, a seeded random stream, a strictly
 * increasing `seq`, and a cumulative energy register kept as a float of physical energy and
 * reported floored, as a real meter's display would be.
 */
import type { Rng } from '../../core/random/prng.ts'
import type { Reading } from '../../core/telemetry/types.ts'

export const HOUR_MS = 3_600_000
/** Hong Kong local time (UTC+8): the fleets' daily rhythms follow it. */
const LOCAL_OFFSET_MS = 8 * HOUR_MS

/** Local hour of day as a fraction, 0 ≤ h < 24. */
export function localHour(tMs: number): number {
  const dayMs = 24 * HOUR_MS
  return ((((tMs + LOCAL_OFFSET_MS) % dayMs) + dayMs) % dayMs) / HOUR_MS
}

export function localDay(tMs: number): number {
  return Math.floor((tMs + LOCAL_OFFSET_MS) / (24 * HOUR_MS))
}

export interface DeviceModel {
  readonly deviceId: string
  /** Readings for device time (lastMs, toMs], in time order, seq assigned. */
  advance(toMs: number): Reading[]
  /** A meter replacement: the register restarts from a new meter's reading. */
  replaceMeter(newRegisterWh: number): void
  /** A reflash or reset: seq restarts at 1 (the device's boot goes up; the scenario keeps it). */
  restartSeq(): void
  /**
   * A replaced controller whose counter starts elsewhere (swap cabinets): the counter jumps by
   * `by`, and the new controller reports its state at once. Absent where there is no counter.
   */
  jumpCounter?(by: number): void
  /** Current reported register (for tests and the ledger). */
  readonly registerWh: number
}

type WithoutSeq<T> = T extends Reading ? Omit<T, 'seq'> : never

export abstract class BaseDeviceModel implements DeviceModel {
  protected nowMs: number
  private nextSeq = 1
  /** Physical energy through the meter, in Wh (fractional; the register floors it). */
  protected energyWh: number

  constructor(
    readonly deviceId: string,
    protected readonly rng: Rng,
    startMs: number,
    initialRegisterWh: number,
  ) {
    this.nowMs = startMs
    this.energyWh = initialRegisterWh
  }

  get registerWh(): number {
    return Math.floor(this.energyWh)
  }

  replaceMeter(newRegisterWh: number): void {
    this.energyWh = newRegisterWh
  }

  restartSeq(): void {
    this.nextSeq = 1
  }

  protected emit(out: Reading[], reading: WithoutSeq<Reading>): void {
    out.push({ ...reading, seq: this.nextSeq++ } as Reading)
  }

  abstract advance(toMs: number): Reading[]
}
