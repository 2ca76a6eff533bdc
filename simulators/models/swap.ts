/**
 * A two-wheeler battery-swap cabinet: riders arrive with commute peaks, take the fullest battery
 * and leave their depleted one, which the cabinet recharges slot by slot. Batteries lose
 * capacity with every cycle. The register counts the energy handed out in batteries
 * (state of charge out minus in, times capacity), and `swapCount` counts swaps.
 */
import type { Rng } from '../../core/random/prng.ts'
import type { Reading, SlotState } from '../../core/telemetry/types.ts'
import { nextArrivalMs } from './arrivals.ts'
import { BaseDeviceModel, HOUR_MS } from './device-model.ts'

/** Swaps per hour at a busy cabinet, per local hour: commute peaks at 8–9 and 18–19. */
const SWAPS_PER_HOUR_PROFILE = [
  0.3, 0.15, 0.1, 0.1, 0.15, 0.5, 1.5, 3.5, 4.5, 2.5, 1.5, 1.6, 2.2, 1.8, 1.4, 1.5, 2.0, 3.5, 4.8, 3.8, 2.4,
  1.6, 1.0, 0.6,
]
const BATTERY_CAPACITY_WH = 1_500
/** Relative capacity lost per full equivalent cycle (0.02 %). */
const FADE_PER_CYCLE = 0.0002
const SWAPPABLE_PERMILLE = 900

export interface SwapOptions {
  readonly slots: number
  /** Charging power of one slot; the cabinet's rating is slots × this. */
  readonly slotChargeW: number
  readonly sampleMs: number
  readonly demand: number
}

interface Battery {
  readonly batteryId: string
  socPermille: number
  capacityWh: number
}

export class SwapModel extends BaseDeviceModel {
  private readonly slots: (Battery | undefined)[]
  private swapCount: number
  /** A new controller reports the cabinet's state (with its counter) before anything else. */
  private reportNow = false
  private nextArrivalMs: number
  private riders = 0
  /** Batteries out with riders; most riders come back with one handed out earlier. */
  private readonly onTheRoad: Battery[] = []

  constructor(
    deviceId: string,
    rng: Rng,
    startMs: number,
    initialRegisterWh: number,
    private readonly options: SwapOptions,
  ) {
    super(deviceId, rng, startMs, initialRegisterWh)
    this.swapCount = Math.round(initialRegisterWh / 1000)
    this.slots = Array.from({ length: options.slots }, (_, i) =>
      i < options.slots - 2
        ? {
            batteryId: `${deviceId}-b${i}`,
            socPermille: rng.int(600, 1000),
            capacityWh: BATTERY_CAPACITY_WH * (0.85 + 0.15 * rng.next()),
          }
        : undefined,
    )
    this.nextArrivalMs = this.drawArrival(startMs)
  }

  private drawArrival(fromMs: number): number {
    return nextArrivalMs(this.rng, fromMs, SWAPS_PER_HOUR_PROFILE, this.options.demand)
  }

  private charge(untilMs: number): void {
    const hours = (untilMs - this.nowMs) / HOUR_MS
    for (const battery of this.slots) {
      if (!battery || battery.socPermille >= 1000) continue
      const addedWh = this.options.slotChargeW * hours
      battery.socPermille = Math.min(1000, battery.socPermille + (addedWh / battery.capacityWh) * 1000)
    }
    this.nowMs = untilMs
  }

  private slotStates(): SlotState[] {
    return this.slots.map((b) => (!b ? 'empty' : b.socPermille >= SWAPPABLE_PERMILLE ? 'full' : 'charging'))
  }

  jumpCounter(by: number): void {
    this.swapCount += by
    this.reportNow = true
  }

  advance(toMs: number): Reading[] {
    const out: Reading[] = []
    const { sampleMs } = this.options
    if (this.reportNow) {
      this.reportNow = false
      this.emit(out, {
        type: 'swap.slots',
        ts: this.nowMs,
        registerWh: this.registerWh,
        swapCount: this.swapCount,
        slots: this.slotStates(),
      })
    }
    for (;;) {
      const nextSampleMs = (Math.floor(this.nowMs / sampleMs) + 1) * sampleMs
      const nextEventMs = Math.min(nextSampleMs, this.nextArrivalMs)
      if (nextEventMs > toMs) break
      this.charge(nextEventMs)
      if (nextEventMs === this.nextArrivalMs) {
        this.nextArrivalMs = this.drawArrival(nextEventMs)
        this.swap(out, nextEventMs)
      } else {
        this.emit(out, {
          type: 'swap.slots',
          ts: nextEventMs,
          registerWh: this.registerWh,
          swapCount: this.swapCount,
          slots: this.slotStates(),
        })
      }
    }
    return out
  }

  private returningBattery(): Battery {
    const socPermille = this.rng.int(40, 320)
    if (this.onTheRoad.length > this.slots.length && this.rng.chance(0.85)) {
      const index = this.rng.int(0, this.onTheRoad.length - 1)
      const battery = this.onTheRoad[index] as Battery
      this.onTheRoad[index] = this.onTheRoad[this.onTheRoad.length - 1] as Battery
      this.onTheRoad.pop()
      battery.socPermille = socPermille
      return battery
    }
    this.riders += 1
    return {
      batteryId: `${this.deviceId}-r${this.riders}`,
      socPermille,
      capacityWh: BATTERY_CAPACITY_WH * (0.8 + 0.2 * this.rng.next()),
    }
  }

  private swap(out: Reading[], tMs: number): void {
    let outIndex = -1
    for (let i = 0; i < this.slots.length; i++) {
      const b = this.slots[i]
      const best = outIndex >= 0 ? this.slots[outIndex] : undefined
      if (b && b.socPermille >= SWAPPABLE_PERMILLE && (!best || b.socPermille > best.socPermille))
        outIndex = i
    }
    const inIndex = this.slots.indexOf(undefined)
    if (outIndex < 0 || inIndex < 0) return // nothing charged, or no empty slot: the rider leaves
    const batteryOut = this.slots[outIndex] as Battery
    const batteryIn = this.returningBattery()
    const socOutPermille = Math.floor(batteryOut.socPermille)
    const energyWh = Math.max(
      0,
      Math.floor(
        (socOutPermille * batteryOut.capacityWh - batteryIn.socPermille * batteryIn.capacityWh) / 1000,
      ),
    )
    batteryOut.capacityWh *= 1 - FADE_PER_CYCLE * ((socOutPermille - batteryIn.socPermille) / 1000)
    this.slots[outIndex] = undefined
    this.slots[inIndex] = batteryIn
    this.onTheRoad.push(batteryOut)
    this.energyWh += energyWh
    this.swapCount += 1
    this.emit(out, {
      type: 'swap.event',
      ts: tMs,
      registerWh: this.registerWh,
      swapCount: this.swapCount,
      swapId: `${this.deviceId}-w${this.swapCount}`,
      slotOut: outIndex,
      slotIn: inIndex,
      batteryOutId: batteryOut.batteryId,
      batteryInId: batteryIn.batteryId,
      socOutPermille,
      socInPermille: batteryIn.socPermille,
      energyWh,
    })
  }
}
