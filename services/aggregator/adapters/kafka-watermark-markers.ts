/**
 * The `WatermarkMarkerSink` port on Kafka: a marker record appended to the chosen partition of
 * telemetry.v1, keyed so that no reader can take it for telemetry. The aggregator is the only
 * writer of telemetry.v1 besides ingest (README, Kafka).
 */
import type { Kafka, Producer } from 'kafkajs'
import { encodeWatermarkMarker, WATERMARK_MARKER_KEY } from '../../../core/telemetry/watermark-marker.ts'
import type { WatermarkMarkerSink } from '../ports.ts'

export async function createKafkaWatermarkMarkers(
  kafka: Kafka,
  options: { readonly topic: string; readonly instanceId: string },
): Promise<WatermarkMarkerSink> {
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  return {
    async append(partition, watermarkMs) {
      await producer.send({
        topic: options.topic,
        acks: -1,
        messages: [
          {
            partition,
            key: WATERMARK_MARKER_KEY,
            value: encodeWatermarkMarker({ watermarkMs, by: options.instanceId }),
            headers: { 'gridroot-aggregator': options.instanceId },
          },
        ],
      })
    },
    close: () => producer.disconnect(),
  }
}
