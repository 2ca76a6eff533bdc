/**
 * Watches a kafkajs consumer through its instrumentation events (core/kafka/consumer-watch.ts
 * decides): `verdict()` for /healthz, and once a problem lasted the exit bound, `onExit` (the
 * services log why and exit with code 75, EX_TEMPFAIL, for their supervisor to restart them).
 */
import type { Consumer } from 'kafkajs'
import type { Logger } from 'pino'
import {
  CONSUMER_STALL_EXIT_CODE,
  type ConsumerPhase,
  type ConsumerProblem,
  type ConsumerVerdict,
  type ConsumerWatchLimits,
  consumerVerdict,
} from '../core/kafka/consumer-watch.ts'

export interface ConsumerWatch {
  verdict(nowMs?: number): ConsumerVerdict
  /** Next offset per partition after the last batch handled since the last join. */
  consumed(): ReadonlyMap<number, bigint>
  /** The service stops: stopping and disconnecting are asked for, and nothing exits any more. */
  stop(): void
}

export interface ConsumerWatchOptions extends ConsumerWatchLimits {
  /**
   * Records not yet consumed in the consumer's partitions (undefined when unknown), given the
   * positions its batches reached since it joined (`consumed()`).
   */
  readonly lag?: (consumed: ReadonlyMap<number, bigint>) => Promise<bigint | undefined>
  /** How often the exit bound is checked (default 1 s). */
  readonly checkMs?: number
  /** How often the lag is measured (default 5 s: two admin requests each time). */
  readonly lagCheckMs?: number
  /**
   * Whether a running batch handler waits on a dependency that reports its own health (the
   * aggregator's InfluxDB): a long batch is then not a consumer stall. Default: never.
   */
  readonly handlerWaitsOnDependency?: () => boolean
  readonly onExit: (problem: ConsumerProblem) => void
}

export function watchConsumer(consumer: Consumer, options: ConsumerWatchOptions): ConsumerWatch {
  let phase: ConsumerPhase = { kind: 'joining', sinceMs: Date.now() }
  let lastFetchMs: number | undefined
  let lastBatchEndMs: number | undefined
  let lagRecords: bigint | undefined
  let stopped = false
  let exited = false
  /** Batches started and not ended, by topic/partition, with their start (a handler that throws never ends its own). */
  const running = new Map<string, number>()
  const consumed = new Map<number, bigint>()
  const key = (p: { topic: string; partition: number }) => `${p.topic}/${p.partition}`
  const { events } = consumer
  const removers = [
    consumer.on(events.GROUP_JOIN, () => {
      phase = { kind: 'joined', sinceMs: Date.now() }
      running.clear()
      consumed.clear()
    }),
    consumer.on(events.REBALANCING, () => {
      phase = { kind: 'joining', sinceMs: Date.now() }
    }),
    consumer.on(events.FETCH, () => {
      lastFetchMs = Date.now()
    }),
    consumer.on(events.START_BATCH_PROCESS, (e) => {
      running.set(key(e.payload), Date.now())
    }),
    consumer.on(events.END_BATCH_PROCESS, (e) => {
      running.delete(key(e.payload))
      lastBatchEndMs = Date.now()
      consumed.set(e.payload.partition, BigInt(e.payload.lastOffset) + 1n)
    }),
    consumer.on(events.CRASH, (e) => {
      running.clear()
      phase = {
        kind: 'crashed',
        sinceMs: Date.now(),
        error: String(e.payload.error?.message ?? e.payload.error),
        restarting: e.payload.restart,
      }
    }),
    // kafkajs restarting after a crash connects again and joins: CONNECT puts it back to joining.
    consumer.on(events.CONNECT, () => {
      if (phase.kind === 'crashed' || phase.kind === 'stopped')
        phase = { kind: 'joining', sinceMs: Date.now() }
    }),
    consumer.on(events.STOP, () => {
      // A crash disconnects too (kafkajs's onCrash): the crash is the reason to keep.
      if (!stopped && phase.kind !== 'crashed') phase = { kind: 'stopped', sinceMs: Date.now() }
    }),
    consumer.on(events.DISCONNECT, () => {
      if (!stopped && phase.kind !== 'crashed') phase = { kind: 'stopped', sinceMs: Date.now() }
    }),
  ]
  const verdict = (nowMs = Date.now()) =>
    consumerVerdict(
      {
        phase,
        lastFetchMs,
        lastBatchEndMs,
        batchRunningSinceMs: running.size === 0 ? undefined : Math.min(...running.values()),
        handlerWaitsOnDependency: options.handlerWaitsOnDependency?.() ?? false,
        lagRecords,
      },
      options,
      nowMs,
    )
  let measuring = false
  let lagMeasuredMs = 0
  const timer = setInterval(() => {
    if (stopped || exited) return
    const v = verdict()
    if (v.state === 'exit') {
      exited = true
      const { state: _, ...problem } = v
      options.onExit(problem)
      return
    }
    if (options.lag === undefined || measuring || Date.now() - lagMeasuredMs < (options.lagCheckMs ?? 5_000))
      return
    measuring = true
    lagMeasuredMs = Date.now()
    options
      .lag(consumed)
      // Unknown while Kafka does not answer: no fetch is answered then either (CONSUMER_NO_FETCH).
      .then(
        (lag) => {
          lagRecords = lag
        },
        () => {
          lagRecords = undefined
        },
      )
      .finally(() => {
        measuring = false
      })
  }, options.checkMs ?? 1_000)
  timer.unref()
  return {
    verdict,
    consumed: () => consumed,
    stop() {
      stopped = true
      clearInterval(timer)
      for (const remove of removers) remove()
    },
  }
}

/**
 * Logs why and exits with 75 (EX_TEMPFAIL). No graceful stop: it would wait on the consumer
 * that hangs. Exiting is a crash the services are built for (they replay from Kafka).
 */
export function exitForRestart(logger: Logger, consumer: string, problem: ConsumerProblem): never {
  logger.fatal(
    {
      consumer,
      code: problem.code,
      reason: problem.reason,
      forMs: problem.forMs,
      exitCode: CONSUMER_STALL_EXIT_CODE,
    },
    'kafka consumer stalled past the exit bound; exiting for the supervisor to restart the process',
  )
  process.exit(CONSUMER_STALL_EXIT_CODE)
}
