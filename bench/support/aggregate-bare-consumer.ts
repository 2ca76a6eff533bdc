/**
 * The baseline consumer of the aggregator benchmark, run as its own process like the aggregator:
 * a kafkajs consumer in a new group with the aggregator's consumer settings
 * (services/aggregator/service.ts) that reads the telemetry topic from the beginning and
 * JSON-decodes each record's value, as the aggregator does first, and nothing else: no
 * accounting, no InfluxDB, no offset commits. What the aggregator does on top is what the ratio
 * prices.
 *
 * It times itself from the end of its first batch to the batch that brings the decoded readings
 * to BENCH_EXPECTED_READINGS, and answers over IPC `{ type: 'done', ... }` (readings counted
 * after the first batch, wall-clock ms with sub-ms precision); `{ type: 'first' }` marks the end
 * of the first batch, so the parent can start watching CPU there.
 * Configuration: the endpoint variables, BENCH_TOPIC, BENCH_GROUP, BENCH_EXPECTED_READINGS.
 */
import { createKafka } from '../../runtime/clients/kafka.ts'
import { endpointsFromEnv } from '../../runtime/config.ts'

export type BareConsumerReply =
  | { type: 'ready' }
  | { type: 'first' }
  | {
      type: 'done'
      readings: number
      records: number
      firstAtMs: number
      lastAtMs: number
      batches: number
    }

const nowMs = () => performance.timeOrigin + performance.now()

async function main(): Promise<void> {
  const endpoints = endpointsFromEnv(process.env)
  const topic = process.env.BENCH_TOPIC ?? ''
  const groupId = process.env.BENCH_GROUP ?? `bench-agg-bare-${process.pid}`
  const expected = Number(process.env.BENCH_EXPECTED_READINGS)
  if (topic === '' || !(expected > 0)) throw new Error('BENCH_TOPIC and BENCH_EXPECTED_READINGS are required')
  const send = (reply: BareConsumerReply) => process.send?.(reply)

  const consumer = createKafka(endpoints.kafka, groupId).consumer({
    groupId,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: 200,
    maxBytesPerPartition: 4 * 1024 * 1024,
  })
  let readings = 0
  let records = 0
  let batches = 0
  let first: { atMs: number; readings: number; records: number } | undefined
  let done = false
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        const decoded = JSON.parse(message.value?.toString() ?? '') as { readings?: unknown[] }
        readings += decoded.readings?.length ?? 0
        records += 1
      }
      batches += 1
      if (done) return
      if (first === undefined) {
        first = { atMs: nowMs(), readings, records }
        send({ type: 'first' })
        return
      }
      if (readings >= expected) {
        done = true
        send({
          type: 'done',
          readings: readings - first.readings,
          records: records - first.records,
          firstAtMs: first.atMs,
          lastAtMs: nowMs(),
          batches: batches - 1,
        })
      }
    },
  })

  const stop = () => {
    void consumer.disconnect().finally(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('disconnect', stop)
  send({ type: 'ready' })
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
