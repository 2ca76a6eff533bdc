/**
 * Wires the aggregator: a Kafka consumer group over telemetry.v1 → the pure Aggregation → the
 * write queue (InfluxDB, then offsets), and the epoch closer → epochs.v1.
 *
 * Exactly once under rebalances and crashes:
 * - Each batch's job writes data points, then device states together with the partition
 *   watermarks in one request, then commits the batch's offsets; the batch handler waits for its
 *   job (partitions are handled `partitionsConcurrently` at a time, so one is applied while
 *   another is written). kafkajs rejoins a rebalancing group only after the handlers returned,
 *   so an instance's writes for the partitions it gives up have landed before the group hands
 *   them to another, which only then reads their state.
 * - Every job belongs to a consumer generation. The generation ends when this instance learns of
 *   a rebalance (a heartbeat answer, kafkajs's rebalancing event, a new join): jobs of an ended
 *   generation stop writing (their retries are aborted) and never commit, so a stale commit
 *   cannot land and an instance kicked out of the group stops booking what another now books.
 * - A crash replays from the committed offsets onto the persisted states: readings already
 *   accounted are skipped by seq, rewritten points are identical, and a watermark never lands
 *   without the device states it accounts for.
 */
import { stat } from 'node:fs/promises'
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs'
import { Aggregation, type AggregationSettings, type HeldRecord } from '../../core/aggregation/aggregation.ts'
import { rollupRestoreFrom } from '../../core/aggregation/rollups.ts'
import type { DeviceRecord } from '../../core/identity/registry.ts'
import { unconsumedRecords } from '../../core/kafka/consumer-watch.ts'
import { decodeAcceptedRecord } from '../../core/telemetry/decode.ts'
import type { TelemetryMessage } from '../../core/telemetry/types.ts'
import { decodeWatermarkMarker, isWatermarkMarkerKey } from '../../core/telemetry/watermark-marker.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { startProbeServer } from '../../runtime/http-probe-server.ts'
import { type ConsumerWatch, exitForRestart, watchConsumer } from '../../runtime/kafka-consumer-watch.ts'
import type { Logger } from '../../runtime/log.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { checkAndWatchRegistry } from '../../runtime/registry-onchain.ts'
import { retry } from '../../runtime/retry.ts'
import { loadTariffBook } from '../../runtime/tariffs-file.ts'
import { LineFormatter } from './adapters/influx-lines.ts'
import { createInfluxStore } from './adapters/influx-store.ts'
import { createKafkaDeadLetterSink } from './adapters/kafka-dead-letters.ts'
import { createKafkaEpochAnnouncer } from './adapters/kafka-epochs.ts'
import { createKafkaWatermarkMarkers } from './adapters/kafka-watermark-markers.ts'
import { receivedAtMsOf } from './adapters/telemetry-record.ts'
import type { AggregatorConfig } from './config.ts'
import { createEpochCloser } from './epoch-closer.ts'
import { type AggregatorMetrics, createAggregatorMetrics } from './metrics.ts'
import type { DeadLetter } from './ports.ts'
import { StoreHealth } from './store-health.ts'
import { InfluxWriter, WriteQueue } from './write-queue.ts'

export interface AggregatorService {
  readonly metrics: AggregatorMetrics
  readonly metricsPort: number
  stop(): Promise<void>
}

/** Heartbeat answers that mean this member's generation is over (kafkajs will rejoin). */
const GENERATION_ENDED = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'NOT_COORDINATOR_FOR_GROUP',
  'FENCED_INSTANCE_ID',
])

export async function startAggregatorService(
  config: AggregatorConfig,
  logger: Logger,
): Promise<AggregatorService> {
  let registry = await loadRegistryFile(config.registryFile)
  const registryWatch = await checkAndWatchRegistry({
    contractsFile: config.contractsFile,
    chain: config.endpoints.chain,
    registry: () => registry,
    registryFile: config.registryFile,
    logger,
  })
  let registryMtimeMs = (await stat(config.registryFile)).mtimeMs
  const tariffs = await loadTariffBook(config.tariffsFile, config.grid)
  await ensureTopics(config.endpoints.kafka, config.topics.all)
  const metrics = createAggregatorMetrics()
  const store = createInfluxStore(config.endpoints.influx, { gzip: config.influxGzip })
  const kafka = createKafka(config.endpoints.kafka, config.instanceId)
  const admin = kafka.admin()
  await admin.connect()
  const deadLetters = await createKafkaDeadLetterSink(kafka, {
    topic: config.topics.dlq.name,
    instanceId: config.instanceId,
  })
  const markers = await createKafkaWatermarkMarkers(kafka, {
    topic: config.topics.telemetry.name,
    instanceId: config.instanceId,
  })
  // Writes and state loads: /healthz fails while InfluxDB fails or does not answer.
  const storeHealth = new StoreHealth(config.influxStuckMs)
  /** Aborted by stop(): the state load's retries end with it. */
  const stopped = new AbortController()
  const writer = new InfluxWriter({
    health: storeHealth,
    store,
    deadLetters,
    chunkLines: config.influxChunkLines,
    concurrency: config.influxWriteConcurrency,
    metrics,
    logger,
  })
  const queue = new WriteQueue(logger)
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

  let partitionCountCache: { value: number; atMs: number } | undefined
  const closer = createEpochCloser({
    grid: config.grid,
    graceMs: config.graceMs,
    consumerGroup: config.consumerGroup,
    partitionCount: async () => {
      if (!partitionCountCache || Date.now() - partitionCountCache.atMs > 60_000) {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] })
        partitionCountCache = { value: meta.topics[0]?.partitions.length ?? 0, atMs: Date.now() }
      }
      return partitionCountCache.value
    },
    store,
    writer,
    announcer: createKafkaEpochAnnouncer(kafka, admin, {
      topic: config.topics.epochs.name,
      instanceId: config.instanceId,
    }),
    metrics,
    logger,
  })

  let aggregation = new Aggregation(settings, registry)
  let needsReload = true
  let reloading: Promise<void> | undefined
  let stopping = false
  let inGroup = false
  let lastHeartbeatMs = 0
  /** Partitions assigned to this instance, and when each last brought a record (wall time). */
  let owned: readonly number[] = []
  const lastRecordWallMs = new Map<number, number>()

  // ── consumer generations ────────────────────────────────────────────────────────────────
  let generation = new AbortController()
  const endGeneration = (why: string) => {
    needsReload = true
    if (generation.signal.aborted) return
    generation.abort()
    logger.info({ why }, 'consumer generation ended: its write jobs stop, nothing of it is committed')
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
    metrics.heldRecords.set(sizes.heldRecords)
  }

  /**
   * Takes what the Aggregation has to write, with the offsets it allows, and queues the job:
   * data, then states with watermarks (one request), then dead letters, then the commit.
   * `signal` is the generation the caller computed those writes in: a caller that awaited
   * across a rebalance must not have its writes fenced by the next generation's signal.
   */
  const queueWrites = (
    letters: readonly DeadLetter[] = [],
    signal: AbortSignal = generation.signal,
  ): Promise<void> => {
    if (signal.aborted) {
      metrics.fencedJobs.inc()
      return Promise.resolve()
    }
    const writes = aggregation.takeWrites()
    syncCounters()
    const data = lines.dataLines(writes)
    const states = lines.stateLines(writes, Date.now())
    const offsets = writes.offsets.map((o) => ({ topic, partition: o.partition, offset: o.offset }))
    return queue.enqueue(async () => {
      if (signal.aborted) {
        metrics.fencedJobs.inc()
        return
      }
      await writer.writeLines(data, signal)
      await writer.writeTogether(states, signal)
      if (letters.length > 0) {
        await retry(() => deadLetters.send(letters), { operation: 'dead-letter produce', signal })
        for (const l of letters) metrics.deadLettered.inc({ reason: l.reason })
      }
      // Checked right before the commit: a job of an ended generation must not commit with the
      // next generation's id (kafkajs commits with the current one).
      if (offsets.length === 0 || signal.aborted) return
      await consumer.commitOffsets(offsets)
    })
  }

  /**
   * A state load, retried while InfluxDB is down or frozen (the batch waits, heartbeating, and
   * /healthz says why) instead of failing the batch: nothing is booked before the state is in.
   */
  const load = <T>(operation: string, request: () => Promise<T>): Promise<T> =>
    retry(() => storeHealth.track(operation, request), {
      operation,
      signal: stopped.signal,
      maxDelayMs: 2_000,
      onRetry: ({ error, attempt }) => {
        if (attempt === 1 || attempt % 10 === 0)
          logger.warn({ err: error, attempt }, 'state not loaded from influxdb; retrying')
      },
    })

  const reload = async () => {
    const loadedIn = generation.signal
    await queue.drain()
    const [states, marks] = await Promise.all([
      load('load device states', () => store.loadDeviceStates(config.consumerGroup)),
      load('load watermarks', () => store.loadWatermarks(config.consumerGroup)),
    ])
    const watermarks = new Map(marks.map((m) => [m.partition, m.watermarkMs]))
    // Written in the same requests as the states and watermarks just read: they match them.
    const rollups = await load('load rollups', () =>
      store.loadRollups(
        config.consumerGroup,
        rollupRestoreFrom(
          config.grid,
          config.graceMs,
          states.map((s) => s.partition),
          watermarks,
        ),
      ),
    )
    aggregation = new Aggregation(settings, registry)
    aggregation.restore(states, watermarks, rollups)
    // A rebalance while the load waited (InfluxDB slow or frozen): the partitions handed over
    // meanwhile may have had their last states written after this read. Load again.
    if (loadedIn.aborted) return
    needsReload = false
    logger.info(
      { devices: states.length, partitions: marks.length, rollups: rollups.length },
      'state restored from influxdb',
    )
  }

  /**
   * Waits for a promise while telling the group coordinator this member is alive (the session
   * timeout is short, so that a crashed instance's partitions move on quickly). A heartbeat
   * answer saying the generation is over ends it at once: the job being waited for stops.
   */
  const whileHeartbeating = async (work: Promise<unknown>, heartbeat: () => Promise<void>) => {
    let done = false
    void work.then(
      () => {
        done = true
      },
      () => {
        done = true
      },
    )
    while (!done) {
      await Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, 1_000))])
      if (done) break
      try {
        await heartbeat()
      } catch (error) {
        const type = (error as { type?: unknown }).type
        if (typeof type === 'string' && GENERATION_ENDED.has(type)) endGeneration(`heartbeat: ${type}`)
      }
    }
    await work
  }

  const handleBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
    if (generation.signal.aborted) {
      // Waiting for kafkajs to rejoin; the records are fetched again from the committed offsets.
      await new Promise((r) => setTimeout(r, 100))
      return
    }
    const batchGeneration = generation.signal
    // A loop: a load begun in an earlier generation (joined by this batch) leaves needsReload set.
    while (needsReload) {
      reloading ??= reload().finally(() => {
        reloading = undefined
      })
      await whileHeartbeating(reloading, heartbeat)
      // A rebalance during the reload: this batch belongs to the generation that ended.
      if (batchGeneration.aborted) return
    }
    const partition = batch.partition
    const now = Date.now()
    lastRecordWallMs.set(partition, now)
    for (const [index, message] of batch.messages.entries()) {
      if (!isRunning() || isStale()) break
      // A large batch takes seconds to apply: stay in the group meanwhile (kafkajs sends only
      // when the heartbeat interval has passed).
      if (index % 2_000 === 1_999) {
        await heartbeat().catch((error: unknown) => {
          const type = (error as { type?: unknown }).type
          if (typeof type === 'string' && GENERATION_ENDED.has(type)) endGeneration(`heartbeat: ${type}`)
        })
        if (generation.signal.aborted) return
      }
      metrics.records.inc()
      if (isWatermarkMarkerKey(message.key)) {
        applyMarker(partition, message)
        resolveOffset(message.offset)
        continue
      }
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
      if (aggregation.mustHold(partition, decoded.deviceId)) {
        aggregation.hold({
          partition,
          offset: message.offset,
          message: decoded,
          raw: message.value ?? Buffer.alloc(0),
          receivedAtMs,
          firstSeenWallMs: now,
        })
      } else {
        aggregation.applyMessage(partition, message.offset, decoded, receivedAtMs, now)
      }
      resolveOffset(message.offset)
    }
    // Gaps are given up by wall time only once the partition is read to its end: until then the
    // missing seq may be among the unread records (a backlog after an InfluxDB outage).
    if ((aggregation.nextOffsetOf(partition) ?? -1n) >= BigInt(batch.highWatermark))
      aggregation.releaseStalePending(partition, Date.now())
    // The handler returns only once its batch is written and committed (or its generation
    // ended): that is what lets kafkajs's rebalance wait for this instance's writes.
    await whileHeartbeating(
      queueWrites([], batchGeneration).catch((error: unknown) => {
        if (!generation.signal.aborted) logger.warn({ err: error, partition }, 'batch not written; replayed')
      }),
      heartbeat,
    )
  }

  const deadLetterOf = (r: HeldRecord): DeadLetter => ({
    reason: 'AGG_UNKNOWN_DEVICE',
    detail: `device ${r.message.deviceId} is not in the aggregator's registry after ${config.unknownDeviceWaitMs} ms`,
    key: r.message.deviceId,
    value: r.raw,
    source: { partition: r.partition, offset: r.offset },
  })

  /** Picks up a changed registry file (new devices, pool moves); a broken file is logged and skipped. */
  const reloadRegistryIfChanged = async () => {
    const mtimeMs = (await stat(config.registryFile)).mtimeMs
    if (mtimeMs === registryMtimeMs) return false
    const next = await loadRegistryFile(config.registryFile)
    registryMtimeMs = mtimeMs
    registry = next
    aggregation.registryChanged(next as { get(id: string): DeviceRecord | undefined }, Date.now())
    logger.info({ devices: next.size }, 'device registry reloaded')
    return true
  }

  /**
   * Owned partitions with a watermark and nothing left to read (committed offset at the end),
   * or that never held a record, and no record for `idlePartitionMs`: a watermark marker with
   * the highest watermark of the group's goes to each (core/telemetry/watermark-marker.ts).
   */
  const markIdlePartitions = async (signal: AbortSignal): Promise<void> => {
    const now = Date.now()
    const idle = owned.filter((p) => now - (lastRecordWallMs.get(p) ?? now) >= config.idlePartitionMs)
    if (idle.length === 0) return
    const [ends, committed, marks] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId: config.consumerGroup, topics: [topic] }),
      store.loadWatermarks(config.consumerGroup),
    ])
    // The reads above take a while: a rebalance meanwhile may have given `idle` to another
    // instance, which must then be the only one to move their watermarks.
    if (signal.aborted) return
    const committedBy = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]))
    const highest = Math.max(
      ...marks.map((m) => m.watermarkMs),
      ...owned.map((p) => aggregation.watermarkOf(p) ?? 0),
    )
    if (!Number.isFinite(highest) || highest <= 0) return
    for (const p of idle) {
      const end = ends.find((e) => e.partition === p)
      if (end === undefined) continue
      const nothingUnread = (committedBy.get(p) ?? -1n) >= BigInt(end.high)
      // A partition with records but no watermark yet has not been read up to any epoch's end
      // and keeps holding the closes. One that never held a record (log start = log end) has
      // been read to its end: without a marker, a fleet smaller than the partition count would
      // never close an epoch (test/aggregator/empty-partitions.test.ts).
      const watermark = aggregation.watermarkOf(p)
      const neverHadRecords = BigInt(end.high) === BigInt(end.low)
      const readToEnd = (nothingUnread && watermark !== undefined) || neverHadRecords
      if (!readToEnd || (watermark ?? Number.NEGATIVE_INFINITY) >= highest) continue
      if (signal.aborted) return
      // Not raised here: the marker raises it when this instance (or any reader) reaches it,
      // so the move has a place in the partition's order that every rebuild and replay sees.
      await markers.append(p, highest)
      metrics.watermarkMarkers.inc()
      logger.info({ partition: p, watermarkMs: highest }, 'idle partition: watermark marker appended')
    }
  }

  /** A watermark marker read from telemetry.v1: the partition's watermark moves here (bounded). */
  const applyMarker = (partition: number, message: KafkaMessage) => {
    try {
      const marker = decodeWatermarkMarker(message.value ?? Buffer.alloc(0))
      const applied = aggregation.applyWatermarkMarker(
        partition,
        message.offset,
        marker.watermarkMs,
        receivedAtMsOf(message.timestamp),
      )
      if (applied !== undefined)
        logger.info(
          {
            partition,
            offset: message.offset,
            watermarkMs: applied,
            asked: marker.watermarkMs,
            by: marker.by,
          },
          'watermark raised by marker',
        )
    } catch (error) {
      aggregation.skipRecord(partition, message.offset)
      metrics.undecodable.inc()
      logger.error(
        { err: error, partition, offset: message.offset },
        'watermark marker does not decode; skipped',
      )
    }
  }

  /**
   * The wall-clock work a quiet partition gets no batch for: readings waiting for a gap that
   * waited long enough, records of unknown devices (registry changes, or their wait ran out),
   * watermarks of idle partitions.
   */
  let timerJobRunning = false
  const timerWork = async () => {
    const registryChanged = await reloadRegistryIfChanged().catch((error: unknown) => {
      logger.warn({ err: error }, 'device registry not reloaded')
      return false
    })
    const signal = generation.signal
    if (needsReload || signal.aborted || stopping) return
    const pendingPartitions = aggregation.partitionsWithPending()
    if (pendingPartitions.length > 0) {
      // By wall time only where everything was read (see handleBatch).
      const ends = await admin.fetchTopicOffsets(topic)
      if (signal.aborted) return
      for (const p of pendingPartitions) {
        const high = ends.find((e) => e.partition === p)?.high
        if (high !== undefined && (aggregation.nextOffsetOf(p) ?? -1n) >= BigInt(high))
          aggregation.releaseStalePending(p, Date.now())
      }
    }
    const expired = aggregation.takeExpiredUnknown(Date.now(), config.unknownDeviceWaitMs)
    await markIdlePartitions(signal)
    if (registryChanged || pendingPartitions.length > 0 || expired.length > 0) {
      await queueWrites(expired.map(deadLetterOf), signal)
    }
  }

  // Listening before the group join, which waits for every member (one stuck in a write to a
  // frozen InfluxDB holds it): until then /healthz answers 503 (not in the group) instead of nothing.
  // An instance with nothing to write (no partitions, its jobs fenced) would not notice a frozen
  // InfluxDB: a ping every 2 s keeps the store's health current (3 s timeout, tracked).
  let pinging = false
  /** Set with the consumer, below; /healthz answers before it. */
  let consumerWatch: ConsumerWatch | undefined
  const pinger = setInterval(() => {
    if (pinging || stopping) return
    pinging = true
    storeHealth
      .track('influx ping', async () => {
        const problem = await store.ping()
        if (problem !== undefined) throw new Error(problem)
      })
      .catch(() => undefined)
      .finally(() => {
        pinging = false
      })
  }, 2_000)
  const probe = await startProbeServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health: () => {
      const now = Date.now()
      const writeJobBusyMs = queue.busyForMs(now)
      const consumerAlive = inGroup && now - lastHeartbeatMs < config.sessionTimeoutMs * 2
      const influx = storeHealth.status()
      // A registry that no longer matches the chain (attack10b F7): the pools, both roots.
      const problems = registryWatch?.problems() ?? []
      // Out of the group, crashed, or not consuming (issue 8: a rejoin that hung after a Kafka freeze).
      const consumerVerdict = consumerWatch?.verdict(now) ?? { state: 'healthy' }
      return {
        ok:
          influx.ok &&
          consumerAlive &&
          consumerVerdict.state === 'healthy' &&
          writeJobBusyMs < config.stallMs &&
          problems.length === 0,
        ...(problems.length === 0 ? {} : { problems }),
        consumer: consumerVerdict,
        influxWritable: influx.ok,
        influx,
        loadingState: reloading !== undefined,
        inGroup,
        lastHeartbeatAgoMs: lastHeartbeatMs === 0 ? null : now - lastHeartbeatMs,
        writeJobBusyMs,
        queuedWrites: queue.depth,
        epochCloser: closer.status(),
        ...aggregation.sizes(),
      }
    },
  })
  const consumer: Consumer = kafka.consumer({
    groupId: config.consumerGroup,
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 5)),
    maxWaitTimeInMs: 200,
    maxBytesPerPartition: 4 * 1024 * 1024,
  })
  consumerWatch = watchConsumer(consumer, {
    stallMs: config.consumerStallMs,
    exitMs: config.consumerExitMs,
    lag: async (consumed) => {
      if (owned.length === 0) return 0n
      const [ends, committed] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId: config.consumerGroup, topics: [topic] }),
      ])
      return unconsumedRecords(
        ends.map((e) => ({ partition: e.partition, low: BigInt(e.low), high: BigInt(e.high) })),
        owned,
        consumed,
        new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)])),
      )
    },
    // A batch waiting on InfluxDB (a request unanswered, or retried after a failure) is the
    // store's stall, which /healthz reports as such; one waiting on anything else is Kafka's.
    handlerWaitsOnDependency: () => {
      const influx = storeHealth.status()
      return influx.oldestWaiting !== null || influx.failing !== null
    },
    // Restart-safe: offsets are committed only after the states and watermarks they account
    // for (see the top of this file), so an exit mid-batch replays it like a SIGKILL would.
    onExit: (problem) => exitForRestart(logger, 'telemetry.v1 consumer group', problem),
  })
  consumer.on(consumer.events.REBALANCING, () => endGeneration('rebalancing'))
  consumer.on(consumer.events.CRASH, (event) => {
    inGroup = false
    endGeneration(`consumer crashed: ${String(event.payload.error?.message ?? '')}`)
  })
  consumer.on(consumer.events.HEARTBEAT, () => {
    lastHeartbeatMs = Date.now()
  })
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    endGeneration('joined the group again')
    generation = new AbortController()
    inGroup = true
    lastHeartbeatMs = Date.now()
    owned = event.payload.memberAssignment[topic] ?? []
    lastRecordWallMs.clear()
    for (const p of owned) lastRecordWallMs.set(p, Date.now())
    closer.setActive(config.closeEpochs && owned.includes(0))
    logger.info(
      { assignment: owned, closer: config.closeEpochs && owned.includes(0) },
      'joined consumer group; state will be reloaded',
    )
  })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: config.partitionsConcurrently,
    eachBatch: handleBatch,
  })

  const timer = setInterval(
    () => {
      if (stopping) return
      void closer.check()
      if (timerJobRunning) return
      timerJobRunning = true
      timerWork()
        .catch((error: unknown) => logger.warn({ err: error }, 'timer work failed'))
        .finally(() => {
          timerJobRunning = false
        })
    },
    Math.max(250, config.closeCheckMs),
  )

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
      consumerWatch?.stop()
      clearInterval(timer)
      stopped.abort()
      clearInterval(pinger)
      registryWatch?.stop()
      // A write that cannot land (InfluxDB gone) must not hold the stop forever: nothing is
      // committed past it, so the records are replayed.
      const giveUp = setTimeout(() => endGeneration('stopping'), 10_000)
      await closer.stop()
      await queue.drain()
      // Stops fetching (waits for the batch handlers, which wait for their writes), leaves the group.
      await consumer.stop()
      await queue.drain()
      clearTimeout(giveUp)
      await consumer.disconnect()
      await deadLetters.close()
      await markers.close()
      await admin.disconnect()
      await store.close()
      await probe.close()
      logger.info('aggregator stopped')
    },
  }
}
