/**
 * Brings a freshly started Kafka broker to its steady state before anything is timed. A new JVM
 * spends its first minutes compiling its own hot paths: measured here, a broker started a minute
 * earlier burned 20–40 µs of CPU per produced record, against ~4 µs once it had handled about a
 * million. On a 2-core machine that difference is taken from the subject, so a benchmark of a
 * long-running system pushes records through a scratch topic first (produce, and optionally read
 * back, so the fetch path is compiled too). The scratch topic is left for the caller to delete
 * when the benchmark ends: a deleted topic's files are removed a minute later, and that disk
 * work must not land in a timed run.
 */
import type { Message } from 'kafkajs'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { progress } from './progress.ts'

export interface KafkaWarmUp {
  readonly records: number
  readonly seconds: number
  /** Deletes the scratch topic. */
  deleteTopic(): Promise<void>
}

const BATCH_RECORDS = 500
const VALUE = Buffer.alloc(300, 0x61)

export async function warmUpKafka(
  endpoint: Endpoints['kafka'],
  options: { readonly records: number; readonly readBack: boolean },
): Promise<KafkaWarmUp> {
  const startedMs = performance.now()
  const topic = `_gridroot.bench-warm-up-${process.pid}`
  await ensureTopics(endpoint, [{ name: topic, partitions: 6, retentionMs: 3_600_000 }])
  const kafka = createKafka(endpoint, `bench-warm-up-${process.pid}`)
  // The same producer settings as ingest's (services/ingest/service.ts).
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  const admin = kafka.admin()
  await Promise.all([producer.connect(), admin.connect()])
  try {
    let sent = 0
    let lastReportMs = performance.now()
    while (sent < options.records) {
      const messages: Message[] = Array.from({ length: BATCH_RECORDS }, (_, i) => ({
        key: `warm-${(sent + i) % 1000}`,
        value: VALUE,
        headers: { 'gridroot-ingest': 'bench-warm-up' },
      }))
      await producer.send({ topic, acks: -1, messages })
      sent += BATCH_RECORDS
      if (performance.now() - lastReportMs > 3_000) {
        progress(
          `  kafka warm-up: ${sent.toLocaleString('en-US')}/${options.records.toLocaleString('en-US')} records`,
        )
        lastReportMs = performance.now()
      }
    }
    if (options.readBack) await readAll(kafka, topic, sent)
    return {
      records: sent,
      seconds: (performance.now() - startedMs) / 1000,
      deleteTopic: async () => {
        const deleter = kafka.admin()
        await deleter.connect()
        await deleter.deleteTopics({ topics: [topic] }).finally(() => deleter.disconnect())
      },
    }
  } finally {
    await producer.disconnect().catch(() => undefined)
    await admin.disconnect().catch(() => undefined)
  }
}

async function readAll(kafka: ReturnType<typeof createKafka>, topic: string, records: number): Promise<void> {
  const consumer = kafka.consumer({ groupId: `${topic}-reader`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let read = 0
    await new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(
        () => reject(new Error(`kafka warm-up read ${read}/${records} in 120 s`)),
        120_000,
      )
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            read += batch.messages.length
            if (read >= records) {
              clearTimeout(timeout)
              resolve()
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect().catch(() => undefined)
  }
}
