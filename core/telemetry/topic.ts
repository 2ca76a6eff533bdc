import { ASSET_CLASSES, type AssetClass } from './types.ts'

/** gridroot/v1/{assetClass}/{deviceId}/telemetry */
export function telemetryTopic(assetClass: AssetClass, deviceId: string): string {
  return `gridroot/v1/${assetClass}/${deviceId}/telemetry`
}

/** What ingest subscribes to (prefixed with `$share/<group>/` for a shared subscription). */
export const TELEMETRY_TOPIC_FILTER = 'gridroot/v1/+/+/telemetry'

/**
 * A deployment's namespace on a shared broker (GRIDROOT_MQTT_TOPIC_PREFIX): whole topic levels,
 * each ending in '/', e.g. `site-a/` or `tenant/staging/`, so `site-a/gridroot/v1/pv/pv-1/telemetry`.
 * No wildcards, no `$` (the broker's own topics), no empty level; empty means none.
 */
export const MQTT_TOPIC_PREFIX_PATTERN = /^(?:[A-Za-z0-9._-]+\/)*$/
export const MQTT_TOPIC_PREFIX_MAX_LENGTH = 128

/**
 * The topic without the deployment's prefix: what topic parsing, the records' headers and the
 * DLQ see, whatever namespace the broker carried it in. A topic outside the prefix (which a
 * subscription under it cannot deliver) is returned whole, so it fails parsing as it is.
 */
export function unprefixedTopic(prefix: string, topic: string): string {
  return prefix !== '' && topic.startsWith(prefix) ? topic.slice(prefix.length) : topic
}

export interface ParsedTopic {
  readonly assetClass: AssetClass
  readonly deviceId: string
}

export function parseTelemetryTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split('/')
  if (parts.length !== 5 || parts[0] !== 'gridroot' || parts[1] !== 'v1' || parts[4] !== 'telemetry')
    return undefined
  const assetClass = parts[2] as AssetClass
  const deviceId = parts[3] ?? ''
  if (!ASSET_CLASSES.includes(assetClass) || !DEVICE_ID_PATTERN.test(deviceId)) return undefined
  return { assetClass, deviceId }
}

/** Device ids are short, printable and safe in MQTT topics, Kafka keys and InfluxDB tags. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
