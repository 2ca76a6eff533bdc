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
  /**
   * Waits until the collector has read every topic up to the end offsets Kafka reports now: once
   * the producer has stopped, nothing more will come (an exact count without a sleep).
   */
  caughtUp(timeoutMs: number): Promise<void>
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
  await waitForLeaders(kafka, topics)
  const consumer: Consumer = kafka.consumer({
    groupId: `test-collector-${process.pid}-${Date.now()}`,
    maxWaitTimeInMs: 100,
    // On a loaded broker a just-created topic's leader can lag its metadata ("This server does
    // not host this topic-partition"); kafkajs does not restart on that by default, and a dead
    // collector made a test wait for records it could never see. Restart, and drop the records
    // a restart delivers again (by topic, partition and offset).
    retry: { restartOnFailure: async () => true },
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [...topics], fromBeginning: true })
  const records: CollectedRecord[] = []
  const seen = new Set<string>()
  /** Next offset to read, by topic/partition. */
  const next = new Map<string, bigint>()
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const at = `${topic}/${partition}/${message.offset}`
      if (seen.has(at)) return
      seen.add(at)
      const p = `${topic}/${partition}`
      const following = BigInt(message.offset) + 1n
      if ((next.get(p) ?? 0n) < following) next.set(p, following)
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
    async caughtUp(timeoutMs) {
      const admin = kafka.admin()
      await admin.connect()
      const ends: [string, bigint][] = []
      // A partition with nothing left to read (empty, or all of it deleted) is caught up already.
      try {
        for (const topic of topics)
          for (const o of await admin.fetchTopicOffsets(topic))
            if (BigInt(o.high) > BigInt(o.low)) ends.push([`${topic}/${o.partition}`, BigInt(o.high)])
      } finally {
        await admin.disconnect()
      }
      const deadline = Date.now() + timeoutMs
      while (ends.some(([p, high]) => (next.get(p) ?? 0n) < high)) {
        if (Date.now() > deadline)
          throw new Error(`timed out after ${timeoutMs} ms catching up with ${topics.join(', ')}`)
        await new Promise((r) => setTimeout(r, 200))
      }
    },
    stop: () => consumer.disconnect(),
  }
}

/** Waits (up to 30 s) until every topic answers an offsets request, i.e. has its leaders. */
async function waitForLeaders(
  kafka: ReturnType<typeof createKafka>,
  topics: readonly string[],
): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const deadline = Date.now() + 30_000
    for (const topic of topics) {
      for (;;) {
        try {
          await admin.fetchTopicOffsets(topic)
          break
        } catch {
          // Not created yet (the service under test creates it) or no leader yet: wait.
          if (Date.now() > deadline) break
          await new Promise((r) => setTimeout(r, 250))
        }
      }
    }
  } finally {
    await admin.disconnect()
  }
}
