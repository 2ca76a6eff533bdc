/**
 * Wires the aggregator: a Kafka consumer group over telemetry.v1 → the pure Aggregation →
 * InfluxDB, then offsets.
 *
 * Writes go through one queue of jobs run in order, so that applying batch N+1 overlaps with
 * writing batch N. Each job writes data points, then device states and watermarks, and only then
 * commits the offsets taken with them (below any reading still waiting for a seq gap). A crash
 * anywhere replays from the committed offsets onto the persisted states: readings already
 * accounted are skipped by seq, and rewritten points are identical.
 *
 * Epochs close from a timer through the same queue: the epochs to close are marked in the
 * Aggregation first (from then on, contributions to them become adjustments), what was applied
 * before is queued for writing, and the totals are read only after those writes.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs'
import { decodeAcceptedRecord } from '../../core/telemetry/decode.ts'
import type { TelemetryMessage } from '../../core/telemetry/types.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { startProbeServer } from '../../runtime/http-probe-server.ts'
import type { Logger } from '../../runtime/log.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { loadTariffBook } from '../../runtime/tariffs-file.ts'
import { LineFormatter } from './adapters/influx-lines.ts'
import { createInfluxStore } from './adapters/influx-store.ts'
import { toLineProtocol } from './adapters/line-protocol.ts'
import { receivedAtMsOf } from './adapters/telemetry-record.ts'
import type { AggregatorConfig } from './config.ts'
import { Aggregation, type AggregationSettings, closableThroughEpoch } from './domain/aggregation.ts'
import { epochClosePoints, globalWatermark } from './domain/epoch-close.ts'
import { type AggregatorMetrics, createAggregatorMetrics } from './metrics.ts'

/** Epochs closed per check at most, so a long backlog of empty epochs does not stall the queue. */
const MAX_EPOCHS_PER_CHECK = 50
/** Write jobs allowed to wait behind the one in flight before a batch waits for them. */
const MAX_QUEUED_JOBS = 2

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
  const store = createInfluxStore(config.endpoints.influx, {
    chunkLines: config.influxChunkLines,
    concurrency: config.influxWriteConcurrency,
    gzip: config.influxGzip,
  })
  const lines = new LineFormatter(config.grid, config.consumerGroup)
  const topic = config.topics.telemetry.name
  const settings: AggregationSettings = {
    grid: config.grid,
    rules: config.anomalyRules,
    tariffs,
    graceMs: config.graceMs,
    reorderWindowMs: config.reorderWindowMs,
    maxPendingWallMs: config.maxPendingWallMs,
    sequence: config.sequenceRules,
    clock: config.clock,
  }

  let aggregation = new Aggregation(settings, registry)
  let needsReload = true
  let closedThrough: number | undefined
  let influxHealthy = true
  let stopping = false

  // ── the write queue ───────────────────────────────────────────────────────────────────────
  let tail: Promise<void> = Promise.resolve()
  const inQueue: Promise<void>[] = []
  const enqueue = (job: () => Promise<void>): Promise<void> => {
    const run = tail.then(job)
    tail = run.catch((error: unknown) => logger.error({ err: error }, 'write job failed'))
    inQueue.push(run)
    const forget = () => inQueue.splice(inQueue.indexOf(run), 1)
    run.then(forget, forget)
    return run
  }
  const drainQueue = async () => {
    while (inQueue.length > 0) await Promise.allSettled([...inQueue])
  }

  /** Retries a write until InfluxDB takes it; gives up only when the service stops. */
  const writeWithRetry = async (batch: readonly string[]) => {
    for (let attempt = 1; ; attempt++) {
      const started = performance.now()
      try {
        await store.write(batch)
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
            { err: error, attempt, lines: batch.length },
            'influxdb write failed; retrying, offsets not committed',
          )
        }
        influxHealthy = false
        if (stopping && attempt >= 3) throw error
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(attempt, 6))))
      }
    }
  }

  const syncCounters = () => {
    const c = aggregation.takeCounters()
    metrics.applied.inc(c.applied)
    metrics.duplicates.inc(c.duplicates)
    metrics.staleDuplicates.inc(c.staleDuplicates)
    for (const [correction, n] of Object.entries(c.clockCorrected))
      metrics.clockCorrected.inc({ correction }, n)
    metrics.gapsSkipped.inc(c.gapsSkipped)
    metrics.lateAdjustments.inc(c.lateAdjustments)
    metrics.unknownDevices.inc(c.unknownDevices)
    for (const [reason, n] of Object.entries(c.quarantined)) metrics.quarantined.inc({ reason }, n)
    const sizes = aggregation.sizes()
    metrics.devices.set(sizes.devices)
    metrics.pendingReadings.set(sizes.pendingReadings)
  }

  /** Takes what the Aggregation has to write, with the offsets it allows, and queues the job. */
  const queueWrites = (): Promise<void> => {
    const writes = aggregation.takeWrites()
    syncCounters()
    const data = lines.dataLines(writes)
    // States after data: a state must never claim readings whose points are not written.
    const states = lines.stateLines(writes, Date.now())
    const offsets = writes.offsets.map((o) => ({ topic, partition: o.partition, offset: o.offset }))
    return enqueue(async () => {
      if (data.length > 0) await writeWithRetry(data)
      if (states.length > 0) await writeWithRetry(states)
      if (offsets.length === 0) return
      try {
        await consumer.commitOffsets(offsets)
      } catch (error) {
        // A rebalance or a stop got in between: the records are replayed, and skipped by seq.
        logger.warn({ err: error, offsets }, 'offset commit failed; those records will be replayed')
      }
    })
  }

  const reload = async () => {
    await drainQueue()
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

  /**
   * Waits for a promise while telling the group coordinator this member is alive: the session
   * timeout is short, so that a crashed instance's partitions move on quickly.
   */
  const whileHeartbeating = async (work: Promise<unknown>, heartbeat: () => Promise<void>) => {
    let done = false
    void work.finally(() => {
      done = true
    })
    while (!done) {
      await Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, 1_000))])
      if (!done) await heartbeat().catch(() => undefined)
    }
    await work
  }

  const handleBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
    if (needsReload) await whileHeartbeating(reload(), heartbeat)
    const partition = batch.partition
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break
      metrics.records.inc()
      let decoded: TelemetryMessage
      try {
        decoded = decodeAcceptedRecord(message.value ?? Buffer.alloc(0))
      } catch (error) {
        metrics.undecodable.inc()
        logger.error({ err: error, partition, offset: message.offset }, 'record is not telemetry; skipped')
        aggregation.skipRecord(partition, message.offset)
        resolveOffset(message.offset)
        continue
      }
      const receivedAtMs = receivedAtMsOf(message.timestamp)
      aggregation.applyMessage(partition, message.offset, decoded, receivedAtMs, Date.now())
      resolveOffset(message.offset)
    }
    aggregation.releaseStalePending(partition, Date.now())
    const written = queueWrites()
    // Backpressure: apply ahead of InfluxDB by a bounded number of batches only.
    if (inQueue.length > MAX_QUEUED_JOBS) await whileHeartbeating(written, heartbeat)
  }

  const kafka = createKafka(config.endpoints.kafka, config.instanceId)
  const admin = kafka.admin()
  await admin.connect()
  /** Partitions whose committed offset has reached their end: nothing of them is unprocessed. */
  const caughtUpPartitions = async (): Promise<Set<number>> => {
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

  /**
   * A partition that goes quiet gets no batch that would release its readings waiting for a gap,
   * and its offsets could not be committed past them: sweep it on the wall clock.
   */
  const sweepPending = () => {
    const partitions = aggregation.partitionsWithPending()
    if (partitions.length === 0) return
    for (const p of partitions) aggregation.releaseStalePending(p, Date.now())
    void queueWrites()
  }

  let closeScheduled = false
  /** Runs in the write queue, after everything applied so far has been written. */
  const checkEpochs = async () => {
    const [marks, caughtUp] = await Promise.all([
      store.loadWatermarks(config.consumerGroup),
      caughtUpPartitions(),
    ])
    const global = globalWatermark(marks, caughtUp)
    if (global === undefined) return
    metrics.globalWatermark.set(global)
    const from = (closedThrough ?? -1) + 1
    const through = Math.min(
      closableThroughEpoch(config.grid, config.graceMs, global),
      from + MAX_EPOCHS_PER_CHECK - 1,
    )
    if (through < from) return
    // From here on, contributions to these epochs are late: they become adjustments. What was
    // applied before is queued now, and the totals are read behind it.
    aggregation.markClosedThrough(through)
    void queueWrites()
    void enqueue(async () => {
      for (let epoch = from; epoch <= through; epoch++) {
        const totals = await store.epochTotals(config.grid, epoch)
        const now = Date.now()
        await writeWithRetry(epochClosePoints(config.grid, epoch, totals, now, global).map(toLineProtocol))
        closedThrough = epoch
        metrics.closedEpoch.set(epoch)
        logger.info({ epoch, devices: totals.length, globalWatermarkMs: global }, 'epoch closed')
      }
    })
  }

  const consumer: Consumer = kafka.consumer({
    groupId: config.consumerGroup,
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 5)),
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
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: handleBatch,
  })

  // Gaps on quiet partitions and epoch closes are checked on the wall clock, also while no
  // records arrive (the last epoch of a quiet fleet).
  const timer = setInterval(
    () => {
      if (needsReload || stopping || closeScheduled) return
      sweepPending()
      closeScheduled = true
      enqueue(checkEpochs)
        .catch((error: unknown) => logger.warn({ err: error }, 'epoch close check failed'))
        .finally(() => {
          closeScheduled = false
        })
    },
    Math.max(250, config.closeCheckMs),
  )

  const probe = await startProbeServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health: () => ({
      ok: true,
      influxHealthy,
      closedThrough,
      queuedWrites: inQueue.length,
      ...aggregation.sizes(),
    }),
  })
  logger.info(
    {
      kafka: config.endpoints.kafka.brokers,
      topic,
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
      clearInterval(timer)
      // Stop fetching (waits for the batch being applied), write and commit what was applied.
      await consumer.stop()
      await drainQueue()
      await consumer.disconnect()
      await admin.disconnect()
      await store.close()
      await probe.close()
      logger.info('aggregator stopped')
    },
  }
}
