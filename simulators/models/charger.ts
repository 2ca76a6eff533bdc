/**
 * An EV charging pile (OCPP-like, one connector): sessions arrive through the day with midday and
 * evening peaks, charge at the lesser of the pile's and the car's power with a taper near full,
 * and report StartTransaction, MeterValues every sample interval, StopTransaction and
 * StatusNotification. Arrivals while busy are lost, as a driver drives on. Rare connector faults
 * take the pile out of service for a while.
 */
import type { Rng } from '../../core/random/prng.ts'
import type { ConnectorStatus, Reading } from '../../core/telemetry/types.ts'
import { nextArrivalMs } from './arrivals.ts'
import { BaseDeviceModel, HOUR_MS } from './device-model.ts'

/** Relative arrival intensity per local hour (0–23); busiest around noon and after work. */
const ARRIVALS_PER_HOUR_PROFILE = [
  0.08, 0.05, 0.04, 0.03, 0.03, 0.05, 0.12, 0.22, 0.3, 0.3, 0.32, 0.38, 0.45, 0.42, 0.34, 0.3, 0.32, 0.4, 0.5,
  0.55, 0.5, 0.4, 0.25, 0.14,
]
const FAULT_PROBABILITY_PER_SESSION = 0.004

export interface ChargerOptions {
  readonly ratedPowerW: number
  readonly sampleMs: number
  /** Scales the arrival profile: a busy urban pile is > 1, a quiet suburban one < 1. */
  readonly utilization: number
}

interface Session {
  readonly sessionId: string
  readonly powerW: number
  readonly targetWh: number
  deliveredWh: number
}

export class ChargerModel extends BaseDeviceModel {
  private session: Session | undefined
  private nextArrivalMs: number
  private faultedUntilMs = 0
  private sessions = 0

  constructor(
    deviceId: string,
    rng: Rng,
    startMs: number,
    initialRegisterWh: number,
    private readonly options: ChargerOptions,
  ) {
    super(deviceId, rng, startMs, initialRegisterWh)
    this.nextArrivalMs = this.drawArrival(startMs)
  }

  private drawArrival(fromMs: number): number {
    return nextArrivalMs(this.rng, fromMs, ARRIVALS_PER_HOUR_PROFILE, this.options.utilization)
  }

  /** Instantaneous power: full power until 80 % of the target, then a linear taper to 30 %. */
  private powerOf(session: Session): number {
    const progress = session.deliveredWh / session.targetWh
    return progress < 0.8 ? session.powerW : session.powerW * (1 - 3.5 * (progress - 0.8))
  }

  advance(toMs: number): Reading[] {
    const out: Reading[] = []
    const { sampleMs } = this.options
    for (;;) {
      const nextSampleMs = (Math.floor(this.nowMs / sampleMs) + 1) * sampleMs
      const session = this.session
      const nextEventMs = session
        ? Math.min(nextSampleMs, this.sessionEndMs(session))
        : Math.min(nextSampleMs, this.nextArrivalMs)
      if (nextEventMs > toMs) break
      if (session) {
        const powerW = this.powerOf(session)
        const stepWh = Math.min(
          (powerW * (nextEventMs - this.nowMs)) / HOUR_MS,
          session.targetWh - session.deliveredWh,
        )
        session.deliveredWh += stepWh
        this.energyWh += stepWh
      }
      this.nowMs = nextEventMs
      if (session && session.deliveredWh >= session.targetWh - 1e-6) {
        this.stopSession(out, session, nextEventMs)
      } else if (session) {
        if (nextEventMs === nextSampleMs) {
          this.emit(out, {
            type: 'charger.meter',
            ts: nextEventMs,
            registerWh: this.registerWh,
            connectorId: 1,
            sessionId: session.sessionId,
            powerW: Math.round(this.powerOf(session)),
          })
        }
      } else if (nextEventMs === this.nextArrivalMs) {
        this.arrive(out, nextEventMs)
      }
    }
    return out
  }

  private sessionEndMs(session: Session): number {
    // Upper bound at constant current power; the loop refines it sample by sample.
    const remainingWh = session.targetWh - session.deliveredWh
    const powerW = Math.max(this.powerOf(session), 1)
    return this.nowMs + Math.max(1000, Math.ceil((remainingWh / powerW) * HOUR_MS))
  }

  private arrive(out: Reading[], tMs: number): void {
    this.nextArrivalMs = this.drawArrival(tMs)
    if (tMs < this.faultedUntilMs) return
    if (this.faultedUntilMs > 0) {
      this.faultedUntilMs = 0
      this.emitStatus(out, tMs, 'Available', 'NoError')
    }
    if (this.rng.chance(FAULT_PROBABILITY_PER_SESSION)) {
      this.faultedUntilMs = tMs + this.rng.int(1, 6) * HOUR_MS
      this.emitStatus(
        out,
        tMs,
        'Faulted',
        this.rng.pick(['GroundFailure', 'OverCurrentFailure', 'PowerMeterFailure', 'ConnectorLockFailure']),
      )
      return
    }
    const carMaxW = this.rng.pick([7_400, 11_000, 50_000, 100_000, 150_000])
    this.sessions += 1
    const session: Session = {
      sessionId: `${this.deviceId}-s${this.sessions}`,
      powerW: Math.min(this.options.ratedPowerW, carMaxW),
      targetWh: Math.round(Math.min(75_000, Math.max(3_000, this.rng.normal(28_000, 12_000)))),
      deliveredWh: 0,
    }
    this.session = session
    this.emitStatus(out, tMs, 'Charging', 'NoError')
    this.emit(out, {
      type: 'charger.session_start',
      ts: tMs,
      registerWh: this.registerWh,
      connectorId: 1,
      sessionId: session.sessionId,
    })
  }

  /** OCPP StatusNotification of the single connector. */
  private emitStatus(out: Reading[], tMs: number, status: ConnectorStatus, errorCode: string): void {
    this.emit(out, {
      type: 'charger.status',
      ts: tMs,
      registerWh: this.registerWh,
      connectorId: 1,
      status,
      errorCode,
    })
  }

  private stopSession(out: Reading[], session: Session, tMs: number): void {
    this.session = undefined
    this.emit(out, {
      type: 'charger.session_stop',
      ts: tMs,
      registerWh: this.registerWh,
      connectorId: 1,
      sessionId: session.sessionId,
      reason: 'EVDisconnected',
    })
    this.emitStatus(out, tMs, 'Available', 'NoError')
    if (this.nextArrivalMs < tMs) this.nextArrivalMs = this.drawArrival(tMs)
  }
}
