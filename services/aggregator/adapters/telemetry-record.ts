/**
 * Reading a telemetry.v1 Kafka record (docs/architecture.md, Kafka): ingest sets the record
 * timestamp to the MQTT receive time, the reference of the aggregator's clock-skew check.
 */

/**
 * The receive time of a record from kafkajs's `message.timestamp` (ms as a decimal string), or
 * undefined when the record has none (-1 in old formats, or not a number): then the clock-skew
 * check has nothing to compare with and does not run for it.
 */
export function receivedAtMsOf(timestamp: string | undefined): number | undefined {
  const ms = Number(timestamp)
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined
}
