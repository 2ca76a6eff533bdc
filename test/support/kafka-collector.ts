/** Collects every record of some topics (from the beginning) while a test runs. */
import type { Consumer, IHeaders } from 'kafkajs'
import { createKafka } from '../../runtime/clients/kafka.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'

export interface CollectedRecord {
  readonly topic: string
  readonly key: string
  readonly value: Buffer
  /** The record timestamp, ms since the Unix epoch. */
  readonly timestampMs: number
  readonly headers: Record<string, string>
}

export interface KafkaCollector {
  readonly records: CollectedRecord[]
  waitFor(
    predicate: (records: readonly CollectedRecord[]) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<void>
  stop(): Promise<void>
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers ?? {}))
    if (v !== undefined) out[k] = Buffer.isBuffer(v) ? v.toString() : String(v)
  return out
}

export async function startKafkaCollector(
  endpoint: Endpoints['kafka'],
  topics: readonly string[],
  filter: (record: CollectedRecord) => boolean,
): Promise<KafkaCollector> {
  const kafka = createKafka(endpoint, 'test-collector')
  const consumer: Consumer = kafka.consumer({
    groupId: `test-collector-${process.pid}-${Date.now()}`,
    maxWaitTimeInMs: 100,
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [...topics], fromBeginning: true })
  const records: CollectedRecord[] = []
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const record = {
        topic,
        key: message.key?.toString() ?? '',
        value: message.value ?? Buffer.alloc(0),
        timestampMs: Number(message.timestamp),
        headers: headersToStrings(message.headers),
      }
      if (filter(record)) records.push(record)
    },
  })
  return {
    records,
    async waitFor(predicate, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs
      while (!predicate(records)) {
        if (Date.now() > deadline)
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${records.length} records)`)
        await new Promise((r) => setTimeout(r, 200))
      }
    },
    stop: () => consumer.disconnect(),
  }
}
