/**
 * `npm run bench:aggregate`: readings per second through one aggregator process (Kafka
 * telemetry.v1 → decode → dedup, accounting, revenue → InfluxDB points → offset commit), against
 * a bare kafkajs consumer that only reads and JSON-decodes the same records, measured in the
 * same run. Two figures, one per record shape ingest writes:
 *
 * - aggregate-single: one signed reading per record (devices sending each sample alone);
 * - aggregate-batched: mostly 10 readings per record (station gateways, batched uploads).
 *
 * Each figure's backlog is produced once into a topic of its own (a unique topic prefix) by a
 * simulated fleet, in exactly ingest's record format (./support/aggregate-load.ts). Then, per run,
 * the baseline consumer drains it in a new consumer group, and a fresh aggregator drains it in
 * another new group into an empty InfluxDB database of its own, timed from its first applied
 * reading until every reading is applied and every offset committed (./support/aggregate-drain.ts).
 * Afterwards the `reading` points in that database are counted against the ground-truth ledger.
 * Each figure is the median of its runs; the runs stop early when the time budget is short.
 *
 * Environment: GRIDROOT_STACK_RUN_DIR (reuse a running stack), GRIDROOT_BENCH_RUNS (default 3),
 * GRIDROOT_BENCH_ONLY (one figure's name), GRIDROOT_BENCH_AGG_SCALE (multiplies the backlog sizes,
 * e.g. 0.1 for a smoke run), GRIDROOT_BENCH_AGG_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=DIR`
 * for the aggregator), GRIDROOT_BENCH_AGG_ENV (what-if: `GRIDROOT_AGG_X=v ...` for the
 * aggregator) and GRIDROOT_BENCH_AGG_ENTRY (what-if: another aggregator main.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Admin } from 'kafkajs'
import { z } from 'zod'
import type { TimeGrid } from '../core/epochs/grid.ts'
import { topicSet } from '../core/kafka/topics.ts'
import { createKafka } from '../runtime/clients/kafka.ts'
import { createFleet } from '../simulators/fleet/fleet.ts'
import type { StackHandle } from '../stack/index.ts'
import { measureBareConsumer } from './support/aggregate-baseline.ts'
import { type InfluxCeiling, measureInfluxCeiling, ReadingLines } from './support/aggregate-ceiling.ts'
import { type AggregatorDrain, committedToEnd, timeAggregatorDrain } from './support/aggregate-drain.ts'
import { countPoints, createRunDatabase, dropRunDatabase } from './support/aggregate-influx.ts'
import { type PreloadedTopic, preloadTelemetry } from './support/aggregate-load.ts'
import { type AggregatorProcess, startAggregatorProcess } from './support/aggregate-process.ts'
import { acquireAggregateBenchStack, releaseAggregateBenchStack } from './support/aggregate-stack.ts'
import { memoryMiB, waitForQuietMachine } from './support/proc-stats.ts'
import { cleanups, progress, runBench, running } from './support/progress.ts'
import { type BenchResult, benchResult, formatResults, median, RESULTS_DIR } from './support/results.ts'
import { settingsList } from './support/settings-env.ts'
import { warmUpKafka } from './support/warm-up-kafka.ts'

const FIGURE_NAMES = ['aggregate-single', 'aggregate-batched'] as const
type FigureName = (typeof FIGURE_NAMES)[number]

const EnvSchema = z.object({
  GRIDROOT_STACK_RUN_DIR: z.string().optional(),
  GRIDROOT_BENCH_RUNS: z.coerce.number().int().min(1).max(5).default(3),
  GRIDROOT_BENCH_ONLY: z.enum(FIGURE_NAMES).optional(),
  GRIDROOT_BENCH_AGG_SCALE: z.coerce.number().positive().max(4).default(1),
  GRIDROOT_BENCH_AGG_NODE_ARGS: z.string().default(''),
  /** What-if: more aggregator settings, `GRIDROOT_AGG_X=v GRIDROOT_AGG_Y=w`. */
  GRIDROOT_BENCH_AGG_ENV: settingsList(/^GRIDROOT_AGG_[A-Z_]+$/),
  GRIDROOT_BENCH_AGG_ENTRY: z.string().default('services/aggregator/main.ts'),
})
const env = EnvSchema.parse(process.env)

/** The whole benchmark, stack start-up included, stops itself after this. */
const DEADLINE_MS = 9.5 * 60_000
/** Kept free at the end for verification, results and clean-up. */
const RESERVE_MS = 30_000
/** A few thousand devices in the proportions of the three sandbox deals' fleets. */
const FLEET = { chargers: 1_200, pv: 900, swap: 900 }
const DEVICES = FLEET.chargers + FLEET.pv + FLEET.swap
const SAMPLE_MS = 60_000
/** Daytime, so that PV plants produce; the production grid (1-day epochs, 5-minute intervals). */
const START_MS = Date.parse('2026-06-01T08:00:00+08:00')
const GRID: TimeGrid = {
  genesisMs: Date.parse('2026-06-01T00:00:00+08:00'),
  epochLengthMs: 86_400_000,
  intervalMs: 300_000,
}
/**
 * Before each timed drain, wait (a while, not forever) for other people's work on a shared
 * machine to calm down, so that one run is not alone in being starved.
 */
const QUIET = { maxOtherCores: 0.3, maxWaitMs: 3_000 }
/** The baseline reads each topic this many times; its figure is the median pass. */
const BASELINE_PASSES = 3
const TARGETS = { readingsPerSecond: 30_000, ratio: 0.4 }
/** Records pushed through a fresh broker before anything is timed (./support/warm-up-kafka.ts). */
const KAFKA_WARM_UP_RECORDS = 2_000_000

interface Figure {
  readonly name: FigureName
  readonly readingsPerRecord: number
  readonly minReadings: number
}

const FIGURES: readonly Figure[] = [
  { name: 'aggregate-single', readingsPerRecord: 1, minReadings: 300_000 },
  { name: 'aggregate-batched', readingsPerRecord: 10, minReadings: 600_000 },
]

interface Context {
  readonly stack: StackHandle
  readonly admin: Admin
  readonly registryFile: string
  readonly serverPids: Readonly<Record<string, number>>
  readonly runId: string
}

interface Load {
  readonly figure: Figure
  readonly prefix: string
  readonly topic: PreloadedTopic
  /** The load's `reading` points as the aggregator formats them, for the InfluxDB ceiling. */
  readonly readingLines: readonly string[]
}

interface SubjectRun {
  readonly drain: AggregatorDrain
  readonly peakRssMiB: number
  readonly readingPoints: number
  readonly verified: boolean
  readonly othersBusyCoresBefore: number
}

const round = (value: number, digits = 0) =>
  Number.isFinite(value) ? Math.round(value * 10 ** digits) / 10 ** digits : value
const count = (n: number) => n.toLocaleString('en-US')

async function measureSubject(ctx: Context, load: Load, run: number): Promise<SubjectRun> {
  const database = `${ctx.runId}_${load.figure.readingsPerRecord}r_${run}`.replace(/[^A-Za-z0-9_]/g, '_')
  const influx = await createRunDatabase(ctx.stack.endpoints.influx, database)
  const dropDatabase = () => dropRunDatabase(ctx.stack.endpoints.influx, database)
  cleanups.push(dropDatabase)
  const group = `${load.prefix}aggregator-${run}`
  const othersBusyCoresBefore = await waitForQuietMachine(
    [process.pid, ...Object.values(ctx.serverPids)],
    QUIET,
  )
  progress(`  aggregator: starting (group ${group}, InfluxDB database ${database})`)
  const aggregator: AggregatorProcess = await startAggregatorProcess({
    endpoints: ctx.stack.endpoints,
    influxBucket: influx.bucket,
    topicPrefix: load.prefix,
    registryFile: ctx.registryFile,
    grid: GRID,
    consumerGroup: group,
    settings: env.GRIDROOT_BENCH_AGG_ENV,
    nodeArgs: env.GRIDROOT_BENCH_AGG_NODE_ARGS.split(/\s+/).filter(Boolean),
    entry: env.GRIDROOT_BENCH_AGG_ENTRY,
    startTimeoutMs: 60_000,
  })
  running.add(aggregator)
  let drain: AggregatorDrain
  let peakRssMiB: number
  try {
    drain = await timeAggregatorDrain(aggregator, {
      totalReadings: load.topic.readings,
      committed: () => committedToEnd(ctx.admin, group, load.topic.topic),
      timeoutMs: 240_000,
      otherPids: { ...ctx.serverPids, bench: process.pid },
    })
    peakRssMiB = memoryMiB(aggregator.pid).peakRssMiB
  } finally {
    await aggregator.stop()
    running.delete(aggregator)
  }
  const c = drain.counters
  progress(
    `  aggregator: ${drain.complete ? '' : 'INCOMPLETE: '}${count(round(drain.readingsPerSecond))} readings/s` +
      ` (${count(drain.readings)} readings in ${drain.seconds.toFixed(2)} s; ${round(drain.cpuMicrosecondsPerReading, 1)} µs CPU/reading; InfluxDB writes ${round(drain.influxWriteShare * 100)}% of it;` +
      ` peak RSS ${round(peakRssMiB)} MiB; cores: aggregator ${drain.cpu.subject}, influxdb ${drain.cpu.influxdb}, kafka ${drain.cpu.kafka}, elsewhere ${drain.cpu.elsewhere};` +
      ` monotonic ${drain.monotonicWindow.map((t) => t.toFixed(3)).join('-')} s)`,
  )
  const readingPoints = await countPoints(influx, 'reading', 'seq')
  const verified =
    drain.complete &&
    readingPoints === load.topic.acceptedReadings &&
    c.applied === load.topic.readings &&
    c.quarantined === load.topic.quarantinedReadings &&
    c.duplicates === 0 &&
    c.undecodable === 0 &&
    c.unknownDevices === 0
  progress(
    `  verify: ${count(readingPoints)} reading points in InfluxDB, ${count(load.topic.acceptedReadings)} expected;` +
      ` applied ${count(c.applied)}, quarantined ${c.quarantined}, duplicates ${c.duplicates}, gaps skipped ${c.gapsSkipped} → ${verified ? 'ok' : 'MISMATCH'}`,
  )
  await dropDatabase()
  cleanups.splice(cleanups.indexOf(dropDatabase), 1)
  return { drain, peakRssMiB, readingPoints, verified, othersBusyCoresBefore }
}

async function measureBaseline(ctx: Context, load: Load, run: number) {
  const othersBusyCoresBefore = await waitForQuietMachine(
    [process.pid, ...Object.values(ctx.serverPids)],
    QUIET,
  )
  const group = `${load.prefix}bare-${run}`
  progress(`  bare kafkajs consumer: draining (group ${group})`)
  const bare = await measureBareConsumer({
    endpoints: ctx.stack.endpoints,
    topic: load.topic.topic,
    group,
    expectedReadings: load.topic.readings,
    passes: BASELINE_PASSES,
    timeoutMs: 120_000,
    otherPids: { kafka: ctx.serverPids.kafka ?? 0, bench: process.pid },
    onStarted: (child) => running.add(child),
  })
  progress(
    `  bare kafkajs consumer: ${bare.complete ? '' : 'INCOMPLETE: '}${count(round(bare.readingsPerSecond))} readings/s` +
      ` (median of passes at ${bare.passes.map((p) => `${count(round(p.readingsPerSecond))} (${p.seconds.toFixed(2)} s)`).join(', ')}; ${round(bare.cpuMicrosecondsPerReading, 2)} µs CPU/reading; cores: consumer ${bare.cpu.subject}, kafka ${bare.cpu.kafka}, elsewhere ${bare.cpu.elsewhere})`,
  )
  return { ...bare, othersBusyCoresBefore }
}

function figureResult(
  load: Load,
  subjectRuns: readonly SubjectRun[],
  baselineRuns: readonly Awaited<ReturnType<typeof measureBaseline>>[],
  ceiling: InfluxCeiling | undefined,
): BenchResult {
  const { figure, topic } = load
  const value = median(subjectRuns.map((r) => (r.verified ? r.drain.readingsPerSecond : Number.NaN)))
  const baselineValue = median(baselineRuns.map((r) => (r.complete ? r.readingsPerSecond : Number.NaN)))
  const ratio = value / baselineValue
  const shape =
    figure.readingsPerRecord === 1
      ? '1 reading per record'
      : `${figure.readingsPerRecord} readings per record (${round((topic.readings / topic.records) * 10) / 10} on average)`
  return benchResult({
    name: figure.name,
    subject: `one aggregator process: Kafka backlog → accounting → InfluxDB → offsets committed, readings/s, ${shape}`,
    baseline:
      'bare kafkajs consumer (same consumer settings, new group) reading and JSON-decoding the same records',
    unit: 'readings/s',
    value: round(value),
    baselineValue: round(baselineValue),
    params: {
      mode: 'drain of a backlog preloaded into Kafka; median of runs; each run a new consumer group, the aggregator into an empty InfluxDB database',
      runs: subjectRuns.length,
      cores: availableParallelism(),
      devices: DEVICES,
      fleet: FLEET,
      sampleMs: SAMPLE_MS,
      grid: {
        genesis: new Date(GRID.genesisMs).toISOString(),
        epochLengthMs: GRID.epochLengthMs,
        intervalMs: GRID.intervalMs,
      },
      load: {
        topic: topic.topic,
        partitions: topic.partitions,
        records: topic.records,
        readings: topic.readings,
        readingsPerRecord: figure.readingsPerRecord,
        fullRecordsShare: round(topic.fullRecords / topic.records, 3),
        meanPayloadBytes: round(topic.payloadBytes / topic.records),
        simulatedMinutes: topic.simulatedMinutes,
        acceptedReadings: topic.acceptedReadings,
        quarantinedReadings: topic.quarantinedReadings,
        preloadSeconds: round(topic.seconds, 1),
      },
      aggregator: {
        entry: env.GRIDROOT_BENCH_AGG_ENTRY,
        settings: env.GRIDROOT_BENCH_AGG_ENV,
        nodeArgs: env.GRIDROOT_BENCH_AGG_NODE_ARGS,
        peakRssMiB: round(Math.max(...subjectRuns.map((r) => r.peakRssMiB))),
      },
      cpuMicrosecondsPerReading: {
        note: 'CPU time per reading of the aggregator process and of the baseline process (medians); less sensitive than rates to other work on a shared machine',
        aggregator: round(median(subjectRuns.map((r) => r.drain.cpuMicrosecondsPerReading)), 1),
        baseline: round(median(baselineRuns.map((r) => r.cpuMicrosecondsPerReading)), 2),
      },
      targets: {
        ...TARGETS,
        met: value >= TARGETS.readingsPerSecond && ratio >= TARGETS.ratio,
      },
      ...(ceiling
        ? {
            influxCeiling: {
              note: "InfluxDB alone taking just this load's reading points (one per reading, the aggregator's format, chunking and concurrency), nothing else running: an upper bound for any aggregator that stores every reading here",
              readingsPerSecond: round(ceiling.readingsPerSecond),
              ratioToBaseline: round(ceiling.readingsPerSecond / baselineValue, 3),
              points: ceiling.points,
              seconds: round(ceiling.seconds, 2),
              chunkLines: ceiling.chunkLines,
              concurrency: ceiling.concurrency,
            },
          }
        : {}),
      subjectRuns: subjectRuns.map((r) => ({
        readingsPerSecond: round(r.drain.readingsPerSecond),
        readings: r.drain.readings,
        seconds: round(r.drain.seconds, 3),
        appliedSeconds: round(r.drain.appliedSeconds, 3),
        secondsToFirstApplied: round(r.drain.secondsToFirstApplied, 2),
        complete: r.drain.complete,
        verified: r.verified,
        readingPointsInInflux: r.readingPoints,
        cpuMicrosecondsPerReading: round(r.drain.cpuMicrosecondsPerReading, 1),
        influxWriteShareOfWindow: round(r.drain.influxWriteShare, 3),
        influxWrites: r.drain.counters.influxWrites,
        peakRssMiB: round(r.peakRssMiB),
        othersBusyCoresBefore: round(r.othersBusyCoresBefore, 3),
        cores: r.drain.cpu,
      })),
      baselineRuns: baselineRuns.map((r) => ({
        readingsPerSecond: round(r.readingsPerSecond),
        passes: r.passes.map((p) => ({
          readingsPerSecond: round(p.readingsPerSecond),
          readings: p.readings,
          records: p.records,
          seconds: round(p.seconds, 3),
          batches: p.batches,
        })),
        complete: r.complete,
        cpuMicrosecondsPerReading: round(r.cpuMicrosecondsPerReading, 2),
        peakRssMiB: round(r.peakRssMiB),
        othersBusyCoresBefore: round(r.othersBusyCoresBefore, 3),
        cores: r.cpu,
      })),
    },
  })
}

async function main(): Promise<void> {
  const startedMs = performance.now()
  const stack = await acquireAggregateBenchStack(env.GRIDROOT_STACK_RUN_DIR)
  cleanups.push(() => releaseAggregateBenchStack(stack))
  progress(
    `warming up Kafka (${KAFKA_WARM_UP_RECORDS.toLocaleString('en-US')} records produced and read back)`,
  )
  const warmUp = await warmUpKafka(stack.endpoints.kafka, { records: KAFKA_WARM_UP_RECORDS, readBack: true })
  cleanups.push(() => warmUp.deleteTopic())
  progress(`  kafka warm-up done in ${warmUp.seconds.toFixed(1)} s`)
  const workDir = mkdtempSync(join(tmpdir(), 'gridroot-bench-agg-'))
  cleanups.push(async () => rmSync(workDir, { recursive: true, force: true }))
  const runId = `bench_agg_${process.pid}_${Date.now().toString(36)}`

  const admin = createKafka(stack.endpoints.kafka, runId).admin()
  await admin.connect()
  cleanups.push(() => admin.disconnect())
  const serverPids = Object.fromEntries(
    stack.servers.filter((s) => s.name === 'kafka' || s.name === 'influxdb').map((s) => [s.name, s.pid]),
  )

  const figures = FIGURES.filter(
    (f) => env.GRIDROOT_BENCH_ONLY === undefined || env.GRIDROOT_BENCH_ONLY === f.name,
  )
  const seed = `bench-agg-${process.pid}`
  let registryFile = ''
  const loads: Load[] = []
  for (const figure of figures) {
    // A fresh fleet per figure: each backlog starts at every device's seq 1.
    progress(`${figure.name}: simulating ${DEVICES} devices and producing their records to Kafka`)
    const fleet = createFleet({ seed, ...FLEET, startMs: START_MS, sampleMs: SAMPLE_MS })
    const readingLines = new ReadingLines(
      GRID,
      new Map(fleet.devices.map((d) => [d.record.deviceId, d.record])),
    )
    if (registryFile === '') {
      registryFile = join(workDir, 'registry.json')
      writeFileSync(registryFile, JSON.stringify(fleet.registry()))
    }
    const prefix = `${runId}.${figure.readingsPerRecord}r.`
    const topics = topicSet(prefix)
    // On a reused stack the topics outlive the benchmark unless removed.
    cleanups.push(() => admin.deleteTopics({ topics: topics.all.map((t) => t.name) }))
    const topic = await preloadTelemetry({
      endpoints: stack.endpoints,
      topicPrefix: prefix,
      fleet,
      grid: GRID,
      readingsPerRecord: figure.readingsPerRecord,
      minReadings: Math.round(figure.minReadings * env.GRIDROOT_BENCH_AGG_SCALE),
      onProgress: progress,
      onPublish: (publish) => readingLines.add(publish),
    })
    progress(
      `${figure.name}: ${count(topic.records)} records, ${count(topic.readings)} readings` +
        ` (${round(topic.simulatedMinutes)} simulated minutes, ${round(topic.payloadBytes / topic.records)} bytes/record) in ${topic.seconds.toFixed(1)} s`,
    )
    loads.push({ figure, prefix, topic, readingLines: readingLines.lines })
  }
  const ctx: Context = { stack, admin, registryFile, serverPids, runId }

  const subjectRuns = new Map<FigureName, SubjectRun[]>(figures.map((f) => [f.name, []]))
  const baselineRuns = new Map<FigureName, Awaited<ReturnType<typeof measureBaseline>>[]>(
    figures.map((f) => [f.name, []]),
  )
  let longestRunMs = 0
  for (let run = 1; run <= env.GRIDROOT_BENCH_RUNS; run++) {
    const runStartedMs = performance.now()
    const leftMs = DEADLINE_MS - RESERVE_MS - (runStartedMs - startedMs)
    if (run > 1 && leftMs < longestRunMs * 1.2) {
      progress(
        `run ${run}: skipped; ${round(leftMs / 1000)} s left, a run takes about ${round(longestRunMs / 1000)} s`,
      )
      break
    }
    for (const load of loads) {
      progress(`${load.figure.name} run ${run}/${env.GRIDROOT_BENCH_RUNS}: baseline`)
      baselineRuns.get(load.figure.name)?.push(await measureBaseline(ctx, load, run))
      progress(`${load.figure.name} run ${run}/${env.GRIDROOT_BENCH_RUNS}: aggregator`)
      subjectRuns.get(load.figure.name)?.push(await measureSubject(ctx, load, run))
    }
    longestRunMs = Math.max(longestRunMs, performance.now() - runStartedMs)
  }

  const ceilings = new Map<FigureName, InfluxCeiling>()
  for (const load of loads) {
    await waitForQuietMachine([process.pid, ...Object.values(ctx.serverPids)], QUIET)
    progress(
      `${load.figure.name}: InfluxDB ceiling, ${count(load.readingLines.length)} reading points written alone`,
    )
    const ceiling = await measureInfluxCeiling(
      stack.endpoints.influx,
      `${runId}_ceiling_${load.figure.readingsPerRecord}r`,
      load.readingLines,
      env.GRIDROOT_BENCH_AGG_ENV,
    )
    progress(`  InfluxDB alone: ${count(round(ceiling.readingsPerSecond))} reading points/s`)
    ceilings.set(load.figure.name, ceiling)
  }

  const results = loads.map((load) =>
    figureResult(
      load,
      subjectRuns.get(load.figure.name) ?? [],
      baselineRuns.get(load.figure.name) ?? [],
      ceilings.get(load.figure.name),
    ),
  )
  const file = join(RESULTS_DIR, 'aggregate.json')
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  for (const r of results) {
    const targets = r.params.targets as { met: boolean }
    const aggregator = r.params.aggregator as { peakRssMiB: number }
    const cpu = r.params.cpuMicrosecondsPerReading as { aggregator: number; baseline: number }
    progress(
      `${r.name}: ${count(r.value)} readings/s vs ${count(r.baselineValue)} → ratio ${r.ratio.toFixed(3)};` +
        ` targets (≥ ${count(TARGETS.readingsPerSecond)} readings/s, ratio ≥ ${TARGETS.ratio}) ${targets.met ? 'met' : 'MISSED'};` +
        ` aggregator peak RSS ${aggregator.peakRssMiB} MiB; CPU per reading ${cpu.aggregator} µs vs ${cpu.baseline} µs`,
    )
  }
  progress(`wrote ${file}`)
  console.log(formatResults(results))
}

runBench(main, DEADLINE_MS)
