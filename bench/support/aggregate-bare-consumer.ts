/**
 * The baseline consumer of the aggregator benchmark, run as its own process like the aggregator:
 * a kafkajs consumer in a new group with the aggregator's consumer settings
 * (services/aggregator/service.ts) that reads the telemetry topic from the beginning and
 * JSON-decodes each record's value, as the aggregator does first, and nothing else: no
 * accounting, no InfluxDB, no offset commits. What the aggregator does on top is what the ratio
 * prices.
 *
 * It reads the topic BENCH_PASSES times (seeking back to the start after each pass), timing each
 * pass from the end of its first batch to the batch that brings the decoded readings to
 * BENCH_EXPECTED_READINGS, and answers over IPC `{ type: 'done', passes }`; `{ type: 'first' }`
 * marks the end of the first batch, so the parent can start watching CPU there. Several passes
 * give a window long enough to time (one pass of batched records takes about a second).
 * Configuration: the endpoint variables, BENCH_TOPIC, BENCH_GROUP, BENCH_EXPECTED_READINGS,
 * BENCH_PASSES.
 */
import { createKafka } from '../../runtime/clients/kafka.ts'
import { endpointsFromEnv } from '../../runtime/config.ts'

interface Batch {
  readonly readings?: unknown[]
}
export interface BarePass {
  /** Readings and records decoded after the pass's first batch, and the time they took. */
  readonly readings: number
  readonly records: number
  readonly seconds: number
  readonly batches: number
}

export type BareConsumerReply =
  | { type: 'ready' }
  | { type: 'first' }
  /** `decodedAfterFirst`: readings decoded after the 'first' reply, whichever pass they belong to. */
  | { type: 'done'; passes: BarePass[]; decodedAfterFirst: number }

interface PassState {
  readings: number
  records: number
  batches: number
  first: { atMs: number; readings: number; records: number } | undefined
}

const newPass = (): PassState => ({ readings: 0, records: 0, batches: 0, first: undefined })

async function main(): Promise<void> {
  const endpoints = endpointsFromEnv(process.env)
  const topic = process.env.BENCH_TOPIC ?? ''
  const groupId = process.env.BENCH_GROUP ?? `bench-agg-bare-${process.pid}`
  const expected = Number(process.env.BENCH_EXPECTED_READINGS)
  const passes = Number(process.env.BENCH_PASSES ?? '1')
  if (topic === '' || !(expected > 0) || !(passes >= 1))
    throw new Error('BENCH_TOPIC, BENCH_EXPECTED_READINGS and BENCH_PASSES are required')
  const send = (reply: BareConsumerReply) => process.send?.(reply)

  const consumer = createKafka(endpoints.kafka, groupId).consumer({
    groupId,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: 200,
    maxBytesPerPartition: 4 * 1024 * 1024,
  })
  const done: BarePass[] = []
  let pass = newPass()
  let decoded = 0
  let decodedAtFirst = 0
  /**
   * The offset each partition's next batch must start at: a batch fetched before a seek (or
   * partly consumed) is skipped rather than counted twice.
   */
  const nextOffsets = new Map<number, bigint>()
  const partitions = new Set<number>()
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 1,
    // Resolved by hand: a skipped batch must not move the consumer's position.
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset }) => {
      partitions.add(batch.partition)
      const last = batch.messages.at(-1)
      if (done.length >= passes || last === undefined) return
      if (BigInt(batch.firstOffset() ?? '-1') !== (nextOffsets.get(batch.partition) ?? 0n)) return
      const before = pass.readings
      for (const message of batch.messages) {
        // v2 carries the readings in `body`, v1 at the top level.
        const value = JSON.parse(message.value?.toString() ?? '') as Batch & { body?: Batch }
        pass.readings += (value.body ?? value).readings?.length ?? 0
        pass.records += 1
      }
      decoded += pass.readings - before
      nextOffsets.set(batch.partition, BigInt(last.offset) + 1n)
      resolveOffset(last.offset)
      pass.batches += 1
      if (pass.first === undefined) {
        pass.first = { atMs: performance.now(), readings: pass.readings, records: pass.records }
        if (done.length === 0) {
          decodedAtFirst = decoded
          send({ type: 'first' })
        }
        return
      }
      if (pass.readings < expected) return
      done.push({
        readings: pass.readings - pass.first.readings,
        records: pass.records - pass.first.records,
        seconds: (performance.now() - pass.first.atMs) / 1000,
        batches: pass.batches - 1,
      })
      if (done.length >= passes) {
        send({ type: 'done', passes: done, decodedAfterFirst: decoded - decodedAtFirst })
        return
      }
      // Again from the start: the same records, a JIT already warm.
      pass = newPass()
      nextOffsets.clear()
      for (const partition of partitions) consumer.seek({ topic, partition, offset: '0' })
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
