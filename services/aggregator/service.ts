/**
 * Wires the aggregator: a Kafka consumer group over telemetry.v1 → the pure Aggregation →
 * InfluxDB, then offsets. Per batch: apply records, write data points, then device states and
 * watermarks, and only then commit offsets (below any reading still waiting for a seq gap).
 * A crash anywhere replays from the committed offsets onto the persisted states: readings
 * already accounted are skipped by seq, and rewritten points are identical.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs'
import type { TelemetryMessage } from '../../core/telemetry/types.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { startProbeServer } from '../../runtime/http-probe-server.ts'
import type { Logger } from '../../runtime/log.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { loadTariffBook } from '../../runtime/tariffs-file.ts'
import { createInfluxStore } from './adapters/influx-store.ts'
import type { AggregatorConfig } from './config.ts'
import { Aggregation, type AggregationSettings, closableThroughEpoch } from './domain/aggregation.ts'
import { epochClosePoints, globalWatermark } from './domain/epoch-close.ts'
import type { PointData } from './domain/points.ts'
import { dataPoints, statePoints } from './domain/to-points.ts'
import { type AggregatorMetrics, createAggregatorMetrics } from './metrics.ts'

const RECEIVED_AT_HEADER = 'gridroot-received-at-ms'
/** Epochs closed per check at most, so a long backlog of empty epochs does not stall the loop. */
const MAX_EPOCHS_PER_CHECK = 50

export interface AggregatorService {
  readonly metrics: AggregatorMetrics
  readonly metricsPort: number
  stop(): Promise<void>
}

export async function startAggregatorService(
  config: AggregatorConfig,
  logger: Logger,
): Promise<AggregatorService> {
  const registry = await loadRegistryFile(config.registryFile)
  const tariffs = await loadTariffBook(config.tariffsFile, config.grid)
  await ensureTopics(config.endpoints.kafka, config.topics.all)
  const metrics = createAggregatorMetrics()
  const store = createInfluxStore(config.endpoints.influx, { chunkLines: config.influxChunkLines })
  const settings: AggregationSettings = {
    grid: config.grid,
    rules: config.anomalyRules,
    tariffs,
    graceMs: config.graceMs,
    reorderWindowMs: config.reorderWindowMs,
    maxPendingWallMs: config.maxPendingWallMs,
  }

  let aggregation = new Aggregation(settings, registry)
  let needsReload = true
  let closedThrough: number | undefined
  let lastCloseCheckMs = 0
  let influxHealthy = true
  let stopping = false

  /** Retries a write until InfluxDB takes it; gives up only when the service stops. */
  const writeWithRetry = async (points: readonly PointData[], heartbeat: () => Promise<void>) => {
    for (let attempt = 1; ; attempt++) {
      const started = performance.now()
      try {
        await store.write(points)
        metrics.writeSeconds.observe((performance.now() - started) / 1000)
        if (!influxHealthy) logger.info({ attempt }, 'influxdb writes succeed again')
        influxHealthy = true
        metrics.influxDown.set(0)
        return
      } catch (error) {
        metrics.influxWriteFailures.inc()
        metrics.influxDown.set(1)
        if (influxHealthy || attempt % 10 === 0) {
          logger.warn(
            { err: error, attempt, points: points.length },
            'influxdb write failed; retrying, offsets not committed',
          )
        }
        influxHealthy = false
        if (stopping) throw error
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(attempt, 6))))
        await heartbeat().catch(() => undefined)
      }
    }
  }

  const reload = async () => {
    const [states, marks, closed] = await Promise.all([
      store.loadDeviceStates(config.consumerGroup),
      store.loadWatermarks(config.consumerGroup),
      store.loadClosedThrough(),
    ])
    aggregation = new Aggregation(settings, registry)
    aggregation.restore(states, new Map(marks.map((m) => [m.partition, m.watermarkMs])))
    closedThrough = closed
    if (closed !== undefined) aggregation.markClosedThrough(closed)
    needsReload = false
    logger.info(
      { devices: states.length, partitions: marks.length, closedThrough: closed },
      'state restored from influxdb',
    )
  }

  const maybeCloseEpochs = async (heartbeat: () => Promise<void>) => {
    const now = Date.now()
    if (now - lastCloseCheckMs < config.closeCheckMs) return
    lastCloseCheckMs = now
    const [marks, caughtUp] = await Promise.all([
      store.loadWatermarks(config.consumerGroup),
      caughtUpPartitions(),
    ])
    const global = globalWatermark(marks, caughtUp)
    if (global === undefined) return
    metrics.globalWatermark.set(global)
    const through = closableThroughEpoch(config.grid, config.graceMs, global)
    let next = (closedThrough ?? -1) + 1
    for (let n = 0; next <= through && n < MAX_EPOCHS_PER_CHECK; next++, n++) {
      const totals = await store.epochTotals(config.grid, next)
      await writeWithRetry(epochClosePoints(config.grid, next, totals, now, global), heartbeat)
      closedThrough = next
      aggregation.markClosedThrough(next)
      metrics.closedEpoch.set(next)
      logger.info({ epoch: next, devices: totals.length, globalWatermarkMs: global }, 'epoch closed')
    }
  }

  // Batches and epoch-close checks take turns: a close must never interleave with a batch that
  // could still write into the epoch being closed.
  let turn: Promise<unknown> = Promise.resolve()
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const result = turn.then(task, task)
    turn = result.catch(() => undefined)
    return result
  }

  const handleBatch = async ({ batch, heartbeat, resolveOffset, isRunning, isStale }: EachBatchPayload) => {
    if (needsReload) await reload()
    const partition = batch.partition
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break
      metrics.records.inc()
      let decoded: TelemetryMessage
      try {
        decoded = JSON.parse(message.value?.toString() ?? '') as TelemetryMessage
        if (!Array.isArray(decoded.readings)) throw new TypeError('no readings')
      } catch (error) {
        metrics.undecodable.inc()
        logger.error({ err: error, partition, offset: message.offset }, 'record is not telemetry; skipped')
        resolveOffset(message.offset)
        continue
      }
      const header = message.headers?.[RECEIVED_AT_HEADER]
      const receivedAtMs = header === undefined ? undefined : Number(header.toString())
      aggregation.applyMessage(partition, message.offset, decoded, receivedAtMs, Date.now())
      resolveOffset(message.offset)
    }
    aggregation.releaseStalePending(partition, Date.now())
    await persist(heartbeat)
    const offset = aggregation.committableOffset(partition)
    if (offset !== undefined) await consumer.commitOffsets([{ topic: batch.topic, partition, offset }])
    await maybeCloseEpochs(heartbeat)
  }

  const syncCounters = () => {
    const c = aggregation.takeCounters()
    metrics.applied.inc(c.applied)
    metrics.duplicates.inc(c.duplicates)
    metrics.gapsSkipped.inc(c.gapsSkipped)
    metrics.lateAdjustments.inc(c.lateAdjustments)
    metrics.unknownDevices.inc(c.unknownDevices)
    for (const [reason, n] of Object.entries(c.quarantined)) metrics.quarantined.inc({ reason }, n)
    const sizes = aggregation.sizes()
    metrics.devices.set(sizes.devices)
    metrics.pendingReadings.set(sizes.pendingReadings)
  }

  const persist = async (heartbeat: () => Promise<void>) => {
    const writes = aggregation.takeWrites()
    syncCounters()
    const data = dataPoints(writes, config.grid)
    if (data.length > 0) await writeWithRetry(data, heartbeat)
    // States after data: a state must never claim readings whose points are not written.
    const states = statePoints(writes, config.consumerGroup, Date.now())
    if (states.length > 0) await writeWithRetry(states, heartbeat)
  }

  const kafka = createKafka(config.endpoints.kafka, config.instanceId)
  const admin = kafka.admin()
  await admin.connect()
  /** Partitions whose committed offset has reached their end: nothing of them is unprocessed. */
  const caughtUpPartitions = async (): Promise<Set<number>> => {
    const topic = config.topics.telemetry.name
    const [ends, committed] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId: config.consumerGroup, topics: [topic] }),
    ])
    const committedBy = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]))
    const out = new Set<number>()
    for (const end of ends) {
      if ((committedBy.get(end.partition) ?? -1n) >= BigInt(end.high)) out.add(end.partition)
    }
    return out
  }
  const consumer: Consumer = kafka.consumer({
    groupId: config.consumerGroup,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: 200,
    maxBytesPerPartition: 4 * 1024 * 1024,
  })
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    needsReload = true
    logger.info(
      { assignment: event.payload.memberAssignment },
      'joined consumer group; state will be reloaded',
    )
  })
  await consumer.connect()
  await consumer.subscribe({ topic: config.topics.telemetry.name, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: (payload) => exclusive(() => handleBatch(payload)),
  })

  /**
   * A partition that goes quiet gets no batch that would release its readings waiting for a gap,
   * and its offsets could not be committed past them: sweep it on the wall clock.
   */
  const sweepPending = async () => {
    const partitions = aggregation.partitionsWithPending()
    if (partitions.length === 0) return
    for (const p of partitions) aggregation.releaseStalePending(p, Date.now())
    await persist(async () => {})
    const offsets = partitions.flatMap((partition) => {
      const offset = aggregation.committableOffset(partition)
      return offset === undefined ? [] : [{ topic: config.topics.telemetry.name, partition, offset }]
    })
    if (offsets.length > 0) await consumer.commitOffsets(offsets)
  }

  // Epochs also close while no records arrive (the last epoch of a quiet fleet).
  const closeTimer = setInterval(
    () => {
      if (needsReload || stopping) return
      exclusive(async () => {
        await sweepPending()
        await maybeCloseEpochs(async () => {})
      }).catch((error: unknown) => logger.warn({ err: error }, 'epoch close check failed'))
    },
    Math.max(250, config.closeCheckMs),
  )

  const probe = await startProbeServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health: () => ({ ok: true, influxHealthy, closedThrough, ...aggregation.sizes() }),
  })
  logger.info(
    {
      kafka: config.endpoints.kafka.brokers,
      influx: config.endpoints.influx.url,
      group: config.consumerGroup,
      metricsPort: probe.port,
    },
    'aggregator started',
  )

  return {
    metrics,
    metricsPort: probe.port,
    async stop() {
      stopping = true
      clearInterval(closeTimer)
      await consumer.disconnect()
      await admin.disconnect()
      await store.close()
      await probe.close()
      logger.info('aggregator stopped')
    },
  }
}
