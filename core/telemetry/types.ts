/**
 * Telemetry schema v1: what devices publish, in integer units only (Wh, W, W/m², per-mille).
 *
 * A device publishes one signed message per MQTT publish. The message carries a batch of one or
 * more readings, strictly increasing in `seq`, and one ed25519 signature over the canonical
 * encoding of (deviceId, readings) — see `signingBytes` in ./canonical.ts. Every reading of every
 * class carries the device's cumulative energy register (`registerWh`): energy always comes from
 * register differences, so a lost message loses no energy and a replayed one adds none.
 */

export const ASSET_CLASSES = ['charger', 'pv', 'swap'] as const
export type AssetClass = (typeof ASSET_CLASSES)[number]

/** v1: the signature covers a canonical re-encoding (migration only). v2: it covers the sent bytes. */
export const TELEMETRY_VERSIONS = [1, 2] as const
export type TelemetryVersion = (typeof TELEMETRY_VERSIONS)[number]
/** What devices publish by default. */
export const TELEMETRY_SCHEMA_VERSION = 2

/**
 * `boot` is the device's seq generation: a non-negative integer the device persists across
 * reboots and increments whenever its seq restarts (reflash, reset); seq restarts at 1 in the
 * new boot. Per device the order of readings is (boot, seq). v1 messages have no boot: 0.
 */
export const MAX_BOOT = 4_294_967_295

/** Fields every reading has. `ts` is device time in milliseconds since the Unix epoch. */
export interface ReadingBase {
  readonly seq: number
  readonly ts: number
  /** Cumulative energy register of the device in Wh (delivered, generated or swapped out). */
  readonly registerWh: number
}

// ── charger (OCPP-like) ────────────────────────────────────────────────────────────────────

export const CONNECTOR_STATUSES = [
  'Available',
  'Preparing',
  'Charging',
  'SuspendedEV',
  'Finishing',
  'Faulted',
  'Unavailable',
] as const
export type ConnectorStatus = (typeof CONNECTOR_STATUSES)[number]

export const STOP_REASONS = [
  'Local',
  'Remote',
  'EVDisconnected',
  'PowerLoss',
  'EmergencyStop',
  'Other',
] as const
export type StopReason = (typeof STOP_REASONS)[number]

export interface ChargerSessionStart extends ReadingBase {
  readonly type: 'charger.session_start'
  readonly connectorId: number
  readonly sessionId: string
}
/** OCPP MeterValues: the cumulative register sampled during a session, with active power. */
export interface ChargerMeter extends ReadingBase {
  readonly type: 'charger.meter'
  readonly connectorId: number
  readonly sessionId: string
  readonly powerW: number
}
export interface ChargerSessionStop extends ReadingBase {
  readonly type: 'charger.session_stop'
  readonly connectorId: number
  readonly sessionId: string
  readonly reason: StopReason
}
/** StatusNotification; `errorCode` is 'NoError' unless the connector reports a fault. */
export interface ChargerStatus extends ReadingBase {
  readonly type: 'charger.status'
  readonly connectorId: number
  readonly status: ConnectorStatus
  readonly errorCode: string
}
export type ChargerReading = ChargerSessionStart | ChargerMeter | ChargerSessionStop | ChargerStatus

// ── pv (SunSpec-like inverter model) ───────────────────────────────────────────────────────

/** SunSpec inverter operating states. */
export const INVERTER_STATUSES = [
  'Off',
  'Sleeping',
  'Starting',
  'MPPT',
  'Throttled',
  'ShuttingDown',
  'Fault',
  'Standby',
] as const
export type InverterStatus = (typeof INVERTER_STATUSES)[number]

/** `registerWh` is the lifetime AC energy exported (SunSpec WH). */
export interface PvInverter extends ReadingBase {
  readonly type: 'pv.inverter'
  readonly acPowerW: number
  readonly irradianceWm2: number
  readonly status: InverterStatus
}
export type PvReading = PvInverter

// ── swap cabinet ───────────────────────────────────────────────────────────────────────────

export const SLOT_STATES = ['empty', 'charging', 'full', 'fault', 'reserved'] as const
export type SlotState = (typeof SLOT_STATES)[number]

/**
 * One battery swap. `registerWh` counts the energy handed out in batteries (state of charge out
 * minus state of charge in, times capacity) and `swapCount` counts swaps, both cumulative.
 */
export interface SwapEvent extends ReadingBase {
  readonly type: 'swap.event'
  readonly swapCount: number
  readonly swapId: string
  readonly slotOut: number
  readonly slotIn: number
  readonly batteryOutId: string
  readonly batteryInId: string
  readonly socOutPermille: number
  readonly socInPermille: number
  readonly energyWh: number
}
/** Periodic cabinet state: one entry per slot. */
export interface SwapSlots extends ReadingBase {
  readonly type: 'swap.slots'
  readonly swapCount: number
  readonly slots: readonly SlotState[]
}
export type SwapReading = SwapEvent | SwapSlots

export type Reading = ChargerReading | PvReading | SwapReading
export type ReadingType = Reading['type']

export const READING_TYPES_BY_CLASS: Readonly<Record<AssetClass, readonly ReadingType[]>> = {
  charger: ['charger.session_start', 'charger.meter', 'charger.session_stop', 'charger.status'],
  pv: ['pv.inverter'],
  swap: ['swap.event', 'swap.slots'],
}

export function assetClassOfReadingType(type: ReadingType): AssetClass {
  return type.startsWith('charger.') ? 'charger' : type.startsWith('pv.') ? 'pv' : 'swap'
}

/**
 * A decoded telemetry message, whatever version it came in. `sig` is canonical base64 of the
 * 64-byte ed25519 signature over `signedBytesOf(message)` (./signed.ts): the version's domain
 * prefix followed by `body`.
 */
export interface TelemetryMessage {
  readonly v: TelemetryVersion
  readonly deviceId: string
  /** The device's seq generation; readings are ordered by (boot, seq). 0 for v1. */
  readonly boot: number
  readonly readings: readonly Reading[]
  readonly sig: string
  /**
   * The signed body, without the domain prefix: for v2 the exact bytes the device sent (a view
   * into the payload, which is what telemetry.v1 archives); for v1 the canonical re-encoding of
   * (deviceId, readings), which is what a v1 device signed.
   */
  readonly body: Uint8Array
}

/** The v1 payload as a device publishes it (JSON, any key order). */
export interface TelemetryMessageV1Wire {
  readonly v: 1
  readonly deviceId: string
  readonly readings: readonly Reading[]
  readonly sig: string
}
