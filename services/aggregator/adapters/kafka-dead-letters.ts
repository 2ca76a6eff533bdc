/**
 * The `DeadLetterSink` port on Kafka: what the aggregator will not process goes to telemetry.dlq
 * beside ingest's rejections, with the same headers (`gridroot-reason`, `gridroot-detail`) and
 * `gridroot-aggregator` naming the instance. A held telemetry record keeps its original bytes
 * (and `gridroot-source-partition` / `-offset`), so it can be replayed once the registry knows
 * its device; a line InfluxDB refused carries the line (`gridroot-payload: influx-line`).
 */
import type { Kafka, Producer } from 'kafkajs'
import type { DeadLetterSink } from '../ports.ts'

export async function createKafkaDeadLetterSink(
  kafka: Kafka,
  options: { readonly topic: string; readonly instanceId: string },
): Promise<DeadLetterSink> {
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  return {
    async send(letters) {
      if (letters.length === 0) return
      await producer.send({
        topic: options.topic,
        acks: -1,
        messages: letters.map((l) => ({
          key: l.key,
          value: l.value,
          headers: {
            'gridroot-reason': l.reason,
            'gridroot-detail': l.detail.slice(0, 1000),
            'gridroot-aggregator': options.instanceId,
            ...('line' in l.source
              ? { 'gridroot-payload': 'influx-line' }
              : {
                  'gridroot-source-partition': String(l.source.partition),
                  'gridroot-source-offset': l.source.offset,
                }),
          },
        })),
      })
    },
    close: () => producer.disconnect(),
  }
}
