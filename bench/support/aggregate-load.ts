/**
 * The aggregator benchmark's backlog: a simulated fleet's signed telemetry, produced straight
 * into a (prefixed) telemetry topic in exactly the form ingest writes it: value = the signed
 * message's JSON bytes, key = deviceId, ingest's headers; an idempotent producer with acks=all,
 * one request in flight, so each partition holds a device's records in seq order. Messages are
 * signed and produced while the fleet is simulated (one produce request in flight while the next
 * one is made) and forgotten once Kafka has them; nothing is timed here.
 */
import type { IHeaders, Message, Producer } from 'kafkajs'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import { topicSet } from '../../core/kafka/topics.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { HEADER } from '../../services/ingest/pipeline.ts'
import type { Fleet } from '../../simulators/fleet/fleet.ts'
import { type Publish, Scenario } from '../../simulators/scenario.ts'

export interface PreloadSpec {
  readonly endpoints: Endpoints
  /** Topic prefix of this load, as GRIDROOT_KAFKA_TOPIC_PREFIX gives it to the aggregator. */
  readonly topicPrefix: string
  /** A fresh fleet: a device's first reading must have seq 1, as for a newly commissioned one. */
  readonly fleet: Fleet
  readonly grid: TimeGrid
  /** Readings per signed message (the scenario's batch size); some messages carry fewer. */
  readonly readingsPerRecord: number
  /** Whole ticks are simulated until at least this many readings are produced. */
  readonly minReadings: number
  readonly onProgress: (message: string) => void
  /** Sees every message as it is produced (the InfluxDB ceiling collects its readings). */
  readonly onPublish?: (publish: Publish) => void
}

export interface PreloadedTopic {
  readonly topic: string
  readonly partitions: number
  readonly records: number
  readonly readings: number
  /** Readings the ground-truth ledger accepts, i.e. the `reading` points the aggregator must write. */
  readonly acceptedReadings: number
  readonly quarantinedReadings: number
  readonly payloadBytes: number
  /** Records that carry exactly `readingsPerRecord` readings. */
  readonly fullRecords: number
  readonly simulatedMinutes: number
  readonly seconds: number
}

/** Bytes per produce request: ~1/6 of it per partition, well under Kafka's 1 MiB batch limit. */
const REQUEST_BYTES = 2 * 1024 * 1024
const REQUEST_RECORDS = 5_000

export async function preloadTelemetry(spec: PreloadSpec): Promise<PreloadedTopic> {
  const startedMs = performance.now()
  const topics = topicSet(spec.topicPrefix)
  await ensureTopics(spec.endpoints.kafka, topics.all)
  const kafka = createKafka(spec.endpoints.kafka, `${spec.topicPrefix}preload`)
  // The same producer settings as ingest's (services/ingest/service.ts).
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  })
  await producer.connect()
  try {
    const scenario = new Scenario(spec.fleet, { grid: spec.grid, batchSize: spec.readingsPerRecord })
    const headers = (): IHeaders => ({ [HEADER.ingestInstance]: 'bench-preload' })
    let sending: Promise<unknown> = Promise.resolve()
    let pending: Message[] = []
    let pendingBytes = 0
    const send = async () => {
      const messages = pending
      pending = []
      pendingBytes = 0
      await sending
      sending = producer.send({ topic: topics.telemetry.name, messages, acks: -1 })
    }

    const tickMs = spec.fleet.spec.sampleMs * spec.readingsPerRecord
    let toMs = spec.fleet.spec.startMs
    let records = 0
    let readings = 0
    let payloadBytes = 0
    let fullRecords = 0
    let reportedAt = performance.now()
    while (readings < spec.minReadings) {
      toMs += tickMs
      for (const p of scenario.tick(toMs)) {
        pending.push({ key: p.deviceId, value: p.payload, timestamp: String(Date.now()), headers: headers() })
        spec.onPublish?.(p)
        pendingBytes += p.payload.byteLength
        records += 1
        readings += p.readings
        payloadBytes += p.payload.byteLength
        if (p.readings === spec.readingsPerRecord) fullRecords += 1
        if (pendingBytes >= REQUEST_BYTES || pending.length >= REQUEST_RECORDS) await send()
      }
      if (performance.now() - reportedAt > 5_000) {
        reportedAt = performance.now()
        spec.onProgress(
          `  ${topics.telemetry.name}: ${readings.toLocaleString('en-US')}/${spec.minReadings.toLocaleString('en-US')} readings produced`,
        )
      }
    }
    if (pending.length > 0) await send()
    await sending

    const ledger = scenario.ledger.snapshot()
    const quarantinedReadings = Object.values(ledger.quarantinedByReason).reduce((a, b) => a + (b ?? 0), 0)
    if (ledger.readings !== readings) {
      throw new Error(`the ledger recorded ${ledger.readings} readings but ${readings} were produced`)
    }
    return {
      topic: topics.telemetry.name,
      partitions: topics.telemetry.partitions,
      records,
      readings,
      acceptedReadings: readings - quarantinedReadings,
      quarantinedReadings,
      payloadBytes,
      fullRecords,
      simulatedMinutes: (toMs - spec.fleet.spec.startMs) / 60_000,
      seconds: (performance.now() - startedMs) / 1000,
    }
  } finally {
    await producer.disconnect()
  }
}
