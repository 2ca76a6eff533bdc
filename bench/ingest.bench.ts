/**
 * `npm run bench:ingest`: readings per second through one ingest process (MQTT → verify →
 * Kafka, PUBACK after the Kafka ack), each figure against a baseline measured in the same run.
 *
 * - ingest-per-message: one signed reading per message. Baseline: raw ed25519 verifications/s
 *   of node:crypto on 2 worker threads over the same messages, i.e. what verifying alone allows.
 * - ingest-batched: 20 readings per signed message. Baseline: a bare mqtt.js subscriber (same
 *   shared subscription and connection count, QoS 1, counting only) draining the same load from
 *   the same broker, i.e. what receiving alone allows. Also reported against the verification
 *   ceiling: libsodium verifying the same messages on every core and doing nothing else.
 * - Each figure in telemetry v2 (the device signs the bytes it sends; ingest verifies, then
 *   parses the body once) and, named `…-v1`, in v1 (ingest parses, re-encodes canonically, then
 *   verifies), over loads of the same readings.
 *
 * Each run starts the consumer afresh, warms it up, then times it draining a backlog published
 * while it was paused (why: ./support/measure.ts), and again while the load is published
 * concurrently. Baseline and subject runs alternate so drifting load on a shared machine hits
 * both; each figure is the median of its runs. Everything is signed before any clock starts.
 *
 * Environment: GRIDROOT_STACK_RUN_DIR (reuse a running stack), GRIDROOT_BENCH_RUNS (default 3),
 * GRIDROOT_BENCH_ONLY (figure names, comma-separated), GRIDROOT_BENCH_INGEST_NODE_ARGS (e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` for ingest), GRIDROOT_BENCH_MQTT_CONNECTIONS (what-if:
 * ingest's and the bare subscriber's connection count, default ingest's),
 * GRIDROOT_BENCH_INGEST_ENV (what-if: `GRIDROOT_INGEST_X=v ...` for ingest) and
 * GRIDROOT_BENCH_INGEST_ENTRY (what-if: another ingest main.ts, e.g. in an experimental copy),
 * GRIDROOT_BENCH_INGEST_LOG (a file to append ingest's logs to).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { ED25519_VERIFIER } from '../core/identity/keys.ts'
import { TELEMETRY_TOPIC } from '../core/kafka/topics.ts'
import type { TelemetryVersion } from '../core/telemetry/types.ts'
import { createKafka } from '../runtime/clients/kafka.ts'
import { DEFAULT_MQTT_CONNECTIONS } from '../services/ingest/config.ts'
import { createMqttPublisher, type MqttPublisher } from '../simulators/adapters/mqtt-publisher.ts'
import type { Fleet } from '../simulators/fleet/fleet.ts'
import type { StackHandle } from '../stack/index.ts'
import { acquireBenchStack, releaseBenchStack } from './support/bench-stack.ts'
import { ingestConsumer, startBareSubscriber } from './support/consumers.ts'
import { type IngestProcess, startIngestProcess } from './support/ingest-process.ts'
import { type BenchLoad, createBenchFleet, createBenchLoad } from './support/load.ts'
import { type ConsumerMeasurement, measureConsumer, QUIET, type TimedWindow } from './support/measure.ts'
import { memoryMiB, startCpuWindow, waitForQuietMachine } from './support/proc-stats.ts'
import { cleanups, progress, runBench, running } from './support/progress.ts'
import { type BenchResult, benchResult, formatResults, median, writeResult } from './support/results.ts'
import { settingsList } from './support/settings-env.ts'
import { measureVerifyRate, verifyJobsOf } from './support/verify-baseline.ts'
import { warmUpKafka } from './support/warm-up-kafka.ts'

const FIGURE_NAMES = [
  'ingest-per-message',
  'ingest-per-message-v1',
  'ingest-batched',
  'ingest-batched-v1',
] as const

const EnvSchema = z.object({
  GRIDROOT_STACK_RUN_DIR: z.string().optional(),
  GRIDROOT_BENCH_RUNS: z.coerce.number().int().min(1).max(5).default(3),
  GRIDROOT_BENCH_INGEST_NODE_ARGS: z.string().default(''),
  GRIDROOT_BENCH_ONLY: z
    .string()
    .optional()
    .transform((v) => (v === undefined ? undefined : v.split(',').map((name) => name.trim())))
    .pipe(z.array(z.enum(FIGURE_NAMES)).optional()),
  /** What-if: ingest's GRIDROOT_INGEST_MQTT_CONNECTIONS, and the bare subscriber's connections. */
  GRIDROOT_BENCH_MQTT_CONNECTIONS: z.coerce.number().int().min(1).max(4096).default(DEFAULT_MQTT_CONNECTIONS),
  /** What-if: more ingest settings, `GRIDROOT_INGEST_X=v GRIDROOT_INGEST_Y=w`. */
  GRIDROOT_BENCH_INGEST_ENV: settingsList(/^GRIDROOT_(INGEST_[A-Z_]+|ED25519_VERIFIER)$/),
  /** What-if: another ingest entry point (e.g. an experimental copy of the repository). */
  GRIDROOT_BENCH_INGEST_ENTRY: z.string().default('services/ingest/main.ts'),
  /** Append ingest's logs (level warn) to this file. */
  GRIDROOT_BENCH_INGEST_LOG: z.string().optional(),
})
const env = EnvSchema.parse(process.env)

/** The whole benchmark, stack start-up included, stops itself after this (4 figures). */
const DEADLINE_MS = 24 * 60_000
/** Ingest's default unless overridden; the bare subscriber uses the same. */
const MQTT_CONNECTIONS = env.GRIDROOT_BENCH_MQTT_CONNECTIONS
/** Enough QoS 1 publishes in flight that the broker, not the publisher's round trips, sets the pace. */
const PUBLISHER = { connections: 8, inflightPerConnection: 128 }
const VERIFY_BASELINE_THREADS = 2
/** Records pushed through a fresh broker before anything is timed (./support/warm-up-kafka.ts). */
const KAFKA_WARM_UP_RECORDS = 2_000_000
const VERIFY_WINDOW = { threads: VERIFY_BASELINE_THREADS, warmUpMs: 300, measureMs: 2_000 }
/** What ingest's admission workers verify with: they load core/identity/keys.ts like this process. */
const INGEST_VERIFIER =
  env.GRIDROOT_BENCH_INGEST_ENV.GRIDROOT_ED25519_VERIFIER === 'node' ? 'node:crypto' : ED25519_VERIFIER
/** The bare subscriber drains the batched load tens of times faster than ingest: time it over 4 copies. */
const BARE_DRAIN_REPEATS = 4
const FLEET = { chargers: 400, pv: 300, swap: 300 }

interface Figure {
  readonly name: (typeof FIGURE_NAMES)[number]
  readonly version: TelemetryVersion
  readonly batchSize: number
  readonly warmUpMessages: number
  /** Sized so that ingest takes several seconds, against 50 ms between reads of its counters. */
  readonly backlogMessages: number
  readonly targets: { readonly readingsPerSecond: number; readonly ratio: number }
}

const PER_MESSAGE = {
  batchSize: 1,
  warmUpMessages: 5_000,
  backlogMessages: 40_000,
  targets: { readingsPerSecond: 8_000, ratio: 0.7 },
} as const
const BATCHED = {
  batchSize: 20,
  warmUpMessages: 1_000,
  backlogMessages: 12_000,
  targets: { readingsPerSecond: 20_000, ratio: 0.6 },
} as const
/** Issue 8: the batched load through ingest at ≥ 0.4 of its verification ceiling. */
const BATCHED_CEILING_TARGET = 0.4

const FIGURES: readonly Figure[] = [
  { name: 'ingest-per-message', version: 2, ...PER_MESSAGE },
  { name: 'ingest-per-message-v1', version: 1, ...PER_MESSAGE },
  { name: 'ingest-batched', version: 2, ...BATCHED },
  { name: 'ingest-batched-v1', version: 1, ...BATCHED },
]

interface Context {
  readonly stack: StackHandle
  readonly publisher: MqttPublisher
  readonly registryFile: string
  readonly serverPids: Readonly<Record<string, number>>
  readonly telemetryOffsetSum: () => Promise<number>
}

interface IngestRun extends ConsumerMeasurement {
  readonly peakRssMiB: number
  /** Messages ingest counted as accepted, against records that arrived in telemetry.v1. */
  readonly accepted: number
  readonly producedToKafka: number
  readonly rejected: number
}

async function measureIngest(ctx: Context, figure: Figure, load: BenchLoad, run: number): Promise<IngestRun> {
  const offsetsBefore = await ctx.telemetryOffsetSum()
  progress(`  ingest: starting (${MQTT_CONNECTIONS} MQTT connections, verify workers = cores)`)
  const ingest: IngestProcess = await startIngestProcess({
    endpoints: ctx.stack.endpoints,
    registryFile: ctx.registryFile,
    instance: `bench-${process.pid}-${figure.batchSize}-${run}`,
    settings: {
      GRIDROOT_INGEST_MQTT_CONNECTIONS: String(MQTT_CONNECTIONS),
      // The session (and anything queued in it) ends with the process, so nothing leaks into
      // the next run; the backlog is made by pausing, not by disconnecting.
      GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '0',
      ...env.GRIDROOT_BENCH_INGEST_ENV,
    },
    entry: env.GRIDROOT_BENCH_INGEST_ENTRY,
    logFile: env.GRIDROOT_BENCH_INGEST_LOG,
    nodeArgs: env.GRIDROOT_BENCH_INGEST_NODE_ARGS.split(/\s+/).filter(Boolean),
    startTimeoutMs: 60_000,
  })
  running.add(ingest)
  try {
    const measured = await measureConsumer(ingestConsumer(ingest), {
      publisher: ctx.publisher,
      warmUp: load.publishes.slice(0, figure.warmUpMessages),
      backlog: load.publishes,
      drainRepeats: 1,
      concurrent: true,
      timeoutMs: 90_000,
      otherPids: { ...ctx.serverPids, benchAndPublisher: process.pid },
    })
    const { peakRssMiB } = memoryMiB(ingest.pid)
    const counters = await ingest.counters()
    await ingest.stop()
    const producedToKafka = (await ctx.telemetryOffsetSum()) - offsetsBefore
    if (producedToKafka !== counters.messagesAccepted) {
      progress(
        `  WARNING: ingest counted ${counters.messagesAccepted} accepted messages but telemetry.v1 grew by ${producedToKafka}` +
          ' (another producer on a reused stack?)',
      )
    }
    if (counters.messagesRejected > 0)
      progress(`  WARNING: ingest rejected ${counters.messagesRejected} messages`)
    progress(
      `  ingest: peak RSS ${peakRssMiB.toFixed(0)} MiB; ${counters.messagesAccepted} accepted = ${producedToKafka} in Kafka`,
    )
    return {
      ...measured,
      peakRssMiB,
      accepted: counters.messagesAccepted,
      producedToKafka,
      rejected: counters.messagesRejected,
    }
  } finally {
    await ingest.stop()
    running.delete(ingest)
  }
}

async function measureBareSubscriber(ctx: Context, figure: Figure, load: BenchLoad, run: number) {
  progress(`  bare subscriber: starting (${MQTT_CONNECTIONS} MQTT connections)`)
  const bare = await startBareSubscriber({
    endpoints: ctx.stack.endpoints,
    connections: MQTT_CONNECTIONS,
    group: `bench-bare-${process.pid}-${run}`,
    readingsPerMessage: load.readingsPerMessage,
  })
  running.add(bare.process)
  try {
    return await measureConsumer(bare, {
      publisher: ctx.publisher,
      warmUp: load.publishes.slice(0, figure.warmUpMessages),
      backlog: load.publishes,
      drainRepeats: BARE_DRAIN_REPEATS,
      concurrent: true,
      timeoutMs: 60_000,
      otherPids: { ...ctx.serverPids, benchAndPublisher: process.pid },
    })
  } finally {
    await bare.stop()
    running.delete(bare.process)
  }
}

const summary = (w: TimedWindow | undefined) =>
  w === undefined
    ? undefined
    : {
        readingsPerSecond: Math.round(w.readingsPerSecond),
        messagesPerSecond: Math.round(w.messagesPerSecond),
        seconds: Math.round(w.seconds * 1000) / 1000,
        complete: w.complete,
        ...(w.othersBusyCoresBefore === undefined
          ? {}
          : { othersBusyCoresBefore: Math.round(w.othersBusyCoresBefore * 1000) / 1000 }),
        ...(w.recordsPerProduceRequest === undefined
          ? {}
          : { recordsPerKafkaRequest: Math.round(w.recordsPerProduceRequest * 10) / 10 }),
        cpuMicrosPerReading: cpuMicrosPerReading(w),
        cores: w.cpu,
      }

/**
 * CPU spent per reading by the consumer, Mosquitto and Kafka together: unlike a rate, it hardly
 * moves when other people's work takes cores away, so it is the steadier figure on a shared
 * machine (the rate is still the headline).
 */
function cpuMicrosPerReading(w: TimedWindow): number {
  const cores = (w.cpu.subject ?? 0) + (w.cpu.mosquitto ?? 0) + (w.cpu.kafka ?? 0)
  return Math.round((cores / w.readingsPerSecond) * 1e6 * 10) / 10
}

function loadParams(load: BenchLoad) {
  return {
    messages: load.publishes.length,
    readingsPerMessage: load.readingsPerMessage,
    meanPayloadBytes: Math.round(load.meanPayloadBytes),
    devices: FLEET.chargers + FLEET.pv + FLEET.swap,
  }
}

/**
 * libsodium's raw rate on these messages, or NaN when sodium-native does not load here (ingest
 * then verifies with node:crypto, and the node:crypto baseline is the one that matters).
 */
async function measureLibsodium(
  jobs: ReturnType<typeof verifyJobsOf>,
  window: typeof VERIFY_WINDOW,
): Promise<{ verificationsPerSecond: number }> {
  if (ED25519_VERIFIER !== 'libsodium') return { verificationsPerSecond: Number.NaN }
  return measureVerifyRate(jobs, { implementation: 'libsodium', ...window })
}

async function runFigure(ctx: Context, fleet: Fleet, figure: Figure): Promise<BenchResult> {
  progress(
    `${figure.name}: signing ${figure.backlogMessages.toLocaleString('en-US')} messages of ${figure.batchSize} reading(s)`,
  )
  const load = createBenchLoad(fleet, {
    batchSize: figure.batchSize,
    messages: figure.backlogMessages,
    telemetryVersion: figure.version,
  })
  const publicKeys = new Map(fleet.devices.map((d) => [d.record.deviceId, d.record.publicKey]))
  const verifyJobs = verifyJobsOf(load.publishes, (id) => publicKeys.get(id) ?? '')

  const baselineRuns: Record<string, unknown>[] = []
  const baselineValues: number[] = []
  const libsodiumValues: number[] = []
  const ingestRuns: IngestRun[] = []
  for (let run = 1; run <= env.GRIDROOT_BENCH_RUNS; run++) {
    progress(`${figure.name} run ${run}/${env.GRIDROOT_BENCH_RUNS}: baseline`)
    if (figure.batchSize === 1) {
      const othersBusyCoresBefore = await waitForQuietMachine(
        [process.pid, ...Object.values(ctx.serverPids)],
        QUIET,
      )
      const cpu = startCpuWindow({ bench: process.pid, ...ctx.serverPids })
      const rate = await measureVerifyRate(verifyJobs, { implementation: 'node:crypto', ...VERIFY_WINDOW })
      const cores = cpu.end()
      const sodiumRate = await measureLibsodium(verifyJobs, VERIFY_WINDOW)
      progress(
        `  ed25519 verify on ${VERIFY_BASELINE_THREADS} threads: node:crypto ${Math.round(rate.verificationsPerSecond).toLocaleString('en-US')}/s, libsodium ${Math.round(sodiumRate.verificationsPerSecond).toLocaleString('en-US')}/s`,
      )
      baselineValues.push(rate.verificationsPerSecond)
      libsodiumValues.push(sodiumRate.verificationsPerSecond)
      baselineRuns.push({
        verificationsPerSecond: Math.round(rate.verificationsPerSecond),
        libsodiumVerificationsPerSecond: Math.round(sodiumRate.verificationsPerSecond),
        perThread: rate.perThread.map(Math.round),
        othersBusyCoresBefore: Math.round(othersBusyCoresBefore * 1000) / 1000,
        cpuMicrosPerVerification:
          Math.round(((cores.bench ?? 0) / rate.verificationsPerSecond) * 1e6 * 10) / 10,
        cores,
      })
    } else {
      const bare = await measureBareSubscriber(ctx, figure, load, run)
      // The verification ceiling of this load: what ingest could reach if verifying were all it
      // did, on as many threads as ingest has verification workers (one per core).
      await waitForQuietMachine([process.pid, ...Object.values(ctx.serverPids)], QUIET)
      const sodiumRate = await measureLibsodium(verifyJobs, {
        ...VERIFY_WINDOW,
        threads: availableParallelism(),
      })
      libsodiumValues.push(sodiumRate.verificationsPerSecond)
      progress(
        `  libsodium verify on ${availableParallelism()} threads: ${Math.round(sodiumRate.verificationsPerSecond).toLocaleString('en-US')} signatures/s = ${Math.round(sodiumRate.verificationsPerSecond * figure.batchSize).toLocaleString('en-US')} readings/s`,
      )
      baselineValues.push(bare.drain.complete ? bare.drain.readingsPerSecond : Number.NaN)
      baselineRuns.push({ drain: summary(bare.drain), concurrent: summary(bare.concurrent) })
    }
    progress(`${figure.name} run ${run}/${env.GRIDROOT_BENCH_RUNS}: ingest`)
    ingestRuns.push(await measureIngest(ctx, figure, load, run))
  }

  const value = median(ingestRuns.map((r) => (r.drain.complete ? r.drain.readingsPerSecond : Number.NaN)))
  const baselineValue = median(baselineValues)
  const ratio = value / baselineValue
  const peakRssMiB = Math.max(...ingestRuns.map((r) => r.peakRssMiB))
  const result = benchResult({
    name: figure.name,
    subject:
      figure.batchSize === 1
        ? `ingest readings/s, telemetry v${figure.version}, 1 signed reading per message, MQTT QoS1 → verify → Kafka acks=all`
        : `ingest readings/s, telemetry v${figure.version}, ${figure.batchSize} readings per signed message, MQTT QoS1 → verify → Kafka acks=all`,
    baseline:
      figure.batchSize === 1
        ? `raw ed25519 verifications/s, node:crypto on ${VERIFY_BASELINE_THREADS} worker threads, same messages`
        : `bare mqtt.js subscriber readings/s (${MQTT_CONNECTIONS} shared-subscription connections, QoS1, counting only), same load`,
    unit: 'readings/s',
    value,
    baselineValue,
    params: {
      mode: 'drain of a backlog published while the consumer was paused (median of runs)',
      runs: env.GRIDROOT_BENCH_RUNS,
      telemetryVersion: figure.version,
      cores: availableParallelism(),
      ingest: {
        entry: env.GRIDROOT_BENCH_INGEST_ENTRY,
        settings: env.GRIDROOT_BENCH_INGEST_ENV,
        mqttConnections: MQTT_CONNECTIONS,
        verifyWorkers: availableParallelism(),
        signatureVerifier: INGEST_VERIFIER,
        peakRssMiB: Math.round(peakRssMiB),
      },
      publisher: PUBLISHER,
      load: loadParams(load),
      ...(figure.batchSize === 1
        ? {
            // The baseline is node:crypto's rate; ingest verifies with libsodium where it
            // loads, ~2.5x faster. Both are reported so the ratio can be read either way.
            libsodiumBaseline: {
              verificationsPerSecond: Math.round(median(libsodiumValues)),
              ratio: Math.round((value / median(libsodiumValues)) * 1000) / 1000,
            },
          }
        : {
            verifyCeiling: {
              note: 'libsodium verifying these messages on 2 threads and doing nothing else, in readings/s: no ingest can pass more than this here',
              readingsPerSecond: Math.round(median(libsodiumValues) * figure.batchSize),
              ratioToBaseline:
                Math.round(((median(libsodiumValues) * figure.batchSize) / baselineValue) * 1000) / 1000,
              /** Issue 8's figure: ingest ÷ this ceiling, target ≥ 0.4. */
              ingestRatio: Math.round((value / (median(libsodiumValues) * figure.batchSize)) * 1000) / 1000,
              ingestRatioTarget: BATCHED_CEILING_TARGET,
              ingestRatioMet: value / (median(libsodiumValues) * figure.batchSize) >= BATCHED_CEILING_TARGET,
            },
          }),
      ...(figure.batchSize === 1 ? {} : { bareDrainMessages: load.publishes.length * BARE_DRAIN_REPEATS }),
      warmUpMessages: figure.warmUpMessages,
      targets: {
        ...figure.targets,
        met: value >= figure.targets.readingsPerSecond && ratio >= figure.targets.ratio,
        ...(figure.batchSize === 1
          ? {
              // The baseline is node:crypto; ingest verifies with libsodium. Both readings:
              metBy:
                "the issue's baseline (node:crypto); against libsodium, what ingest runs, see metAgainstIngestVerifier",
              metAgainstIngestVerifier:
                value >= figure.targets.readingsPerSecond &&
                value / median(libsodiumValues) >= figure.targets.ratio,
            }
          : {}),
      },
      concurrent: {
        note: 'publisher and consumer running together; the publisher shares the cores',
        valueMedian: Math.round(median(ingestRuns.map((r) => r.concurrent?.readingsPerSecond ?? Number.NaN))),
        ...(figure.batchSize === 1
          ? {}
          : {
              baselineMedian: Math.round(
                median(
                  baselineRuns.map(
                    (r) =>
                      (r.concurrent as { readingsPerSecond?: number } | undefined)?.readingsPerSecond ??
                      Number.NaN,
                  ),
                ),
              ),
            }),
      },
      ingestRuns: ingestRuns.map((r) => ({
        drain: summary(r.drain),
        concurrent: summary(r.concurrent),
        backlogPublishSeconds: Math.round(r.backlogPublishSeconds * 100) / 100,
        peakRssMiB: Math.round(r.peakRssMiB),
        accepted: r.accepted,
        producedToKafka: r.producedToKafka,
        rejected: r.rejected,
      })),
      baselineRuns,
    },
  })
  writeResult(result)
  progress(
    `${figure.name}: ${Math.round(value).toLocaleString('en-US')} readings/s vs ${Math.round(baselineValue).toLocaleString('en-US')}` +
      ` → ratio ${ratio.toFixed(3)}; targets ${result.params.targets && (result.params.targets as { met: boolean }).met ? 'met' : 'MISSED'}`,
  )
  return result
}

async function main(): Promise<void> {
  const stack = await acquireBenchStack(env.GRIDROOT_STACK_RUN_DIR)
  cleanups.push(() => releaseBenchStack(stack))
  progress(`warming up Kafka (${KAFKA_WARM_UP_RECORDS.toLocaleString('en-US')} records)`)
  const warmUp = await warmUpKafka(stack.endpoints.kafka, { records: KAFKA_WARM_UP_RECORDS, readBack: false })
  cleanups.push(() => warmUp.deleteTopic())
  progress(`  kafka warm-up done in ${warmUp.seconds.toFixed(1)} s`)
  const workDir = mkdtempSync(join(tmpdir(), 'gridroot-bench-'))
  cleanups.push(async () => rmSync(workDir, { recursive: true, force: true }))

  progress(`making a fleet of ${FLEET.chargers + FLEET.pv + FLEET.swap} devices`)
  const fleet = createBenchFleet(`bench-${process.pid}`, FLEET)
  const registryFile = join(workDir, 'registry.json')
  writeFileSync(registryFile, JSON.stringify(fleet.registry()))

  const publisher = await createMqttPublisher(stack.endpoints.mqtt, {
    ...PUBLISHER,
    clientIdPrefix: `bench-pub-${process.pid}`,
  })
  cleanups.push(() => publisher.close())
  const admin = createKafka(stack.endpoints.kafka, `bench-${process.pid}`).admin()
  await admin.connect()
  cleanups.push(() => admin.disconnect())
  const serverPids = Object.fromEntries(
    stack.servers.filter((s) => s.name === 'mosquitto' || s.name === 'kafka').map((s) => [s.name, s.pid]),
  )
  const ctx: Context = {
    stack,
    publisher,
    registryFile,
    serverPids,
    telemetryOffsetSum: async () => {
      const topics = await admin.listTopics()
      if (!topics.includes(TELEMETRY_TOPIC.name)) return 0
      const offsets = await admin.fetchTopicOffsets(TELEMETRY_TOPIC.name)
      return offsets.reduce((sum, p) => sum + Number(p.high), 0)
    },
  }

  const results: BenchResult[] = []
  for (const figure of FIGURES) {
    if (env.GRIDROOT_BENCH_ONLY === undefined || env.GRIDROOT_BENCH_ONLY.includes(figure.name)) {
      results.push(await runFigure(ctx, fleet, figure))
    }
  }
  console.log(formatResults(results))
}

runBench(main, DEADLINE_MS)
