/**
 * Times one aggregator draining a backlog that waits in Kafka: from the first poll of its
 * /metrics that shows applied readings to the moment every reading is applied and the group's
 * committed offsets have reached the end of every partition (offsets are committed only after
 * InfluxDB acknowledged the batch's points, so that is when the last point is durable). Readings
 * applied before the first poll that saw any are not counted, so the rate is over whole polls.
 */
import type { Admin } from 'kafkajs'
import type { AggregatorCounters, AggregatorProcess } from './aggregate-process.ts'
import { type CpuUse, startCpuWindow } from './proc-stats.ts'
import { progress, sleep } from './progress.ts'

export interface AggregatorDrain {
  /** Readings applied between the first poll that saw some and the end. */
  readonly readings: number
  readonly seconds: number
  readonly readingsPerSecond: number
  /** Seconds until the applied counter reached the total (the last commit comes after). */
  readonly appliedSeconds: number
  /** Seconds between the aggregator's /metrics answering and its first applied reading. */
  readonly secondsToFirstApplied: number
  readonly complete: boolean
  /** Counters at the end (whole life of the process). */
  readonly counters: AggregatorCounters
  /** InfluxDB write time inside the window, as a share of the window. */
  readonly influxWriteShare: number
  /** CPU time of the aggregator process per reading in the window: contention on a shared machine changes it less than the rate. */
  readonly cpuMicrosecondsPerReading: number
  readonly cpu: CpuUse
  /** The window on the monotonic clock (seconds), the one --cpu-prof time stamps use. */
  readonly monotonicWindow: readonly [number, number]
}

const monotonicSeconds = () => Number(process.hrtime.bigint()) / 1e9

/** How often /metrics is read: coarse enough to cost the aggregator nothing measurable. */
const POLL_MS = 100
const REPORT_EVERY_MS = 3_000

/** True when the group's committed offset is at the end of every partition of the topic. */
export async function committedToEnd(admin: Admin, groupId: string, topic: string): Promise<boolean> {
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ])
  const committedBy = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]))
  return ends.every((end) => (committedBy.get(end.partition) ?? -1n) >= BigInt(end.high))
}

export async function timeAggregatorDrain(
  aggregator: AggregatorProcess,
  options: {
    readonly totalReadings: number
    readonly committed: () => Promise<boolean>
    readonly timeoutMs: number
    /** Processes whose CPU is reported beside the aggregator's (named `subject`). */
    readonly otherPids: Readonly<Record<string, number>>
  },
): Promise<AggregatorDrain> {
  const watchedFromMs = performance.now()
  const deadline = watchedFromMs + options.timeoutMs
  const exitedEarly = () => aggregator.child.exitCode !== null || aggregator.child.signalCode !== null
  let first: { atMs: number; monotonic: number; applied: number; writeSeconds: number } | undefined
  let cpu: ReturnType<typeof startCpuWindow> | undefined
  let appliedAtMs = Number.NaN
  let lastReportMs = performance.now()
  let counters = await aggregator.counters()
  for (;;) {
    await sleep(POLL_MS)
    if (exitedEarly()) throw new Error(`the aggregator exited during the drain:\n${aggregator.output()}`)
    const atMs = performance.now()
    counters = await aggregator.counters()
    if (first === undefined) {
      if (counters.applied > 0) {
        first = {
          atMs,
          monotonic: monotonicSeconds(),
          applied: counters.applied,
          writeSeconds: counters.influxWriteSeconds,
        }
        cpu = startCpuWindow({ subject: aggregator.pid, ...options.otherPids }, 'subject')
      } else if (atMs > deadline) {
        return incomplete(counters, watchedFromMs)
      }
      continue
    }
    const applied = counters.applied >= options.totalReadings
    if (applied && Number.isNaN(appliedAtMs)) appliedAtMs = atMs
    if (applied && (await options.committed())) {
      const endMs = performance.now()
      const seconds = (endMs - first.atMs) / 1000
      const readings = counters.applied - first.applied
      const cores = cpu?.end() ?? {}
      return {
        readings,
        seconds,
        readingsPerSecond: readings / seconds,
        appliedSeconds: (appliedAtMs - first.atMs) / 1000,
        secondsToFirstApplied: (first.atMs - watchedFromMs) / 1000,
        complete: true,
        counters,
        influxWriteShare: (counters.influxWriteSeconds - first.writeSeconds) / seconds,
        cpuMicrosecondsPerReading: (((cores.subject ?? Number.NaN) * seconds) / readings) * 1e6,
        cpu: cores,
        monotonicWindow: [first.monotonic, monotonicSeconds()],
      }
    }
    if (atMs > deadline) {
      progress(
        `  aggregator: timed out with ${counters.applied}/${options.totalReadings} readings applied` +
          ` (${counters.pendingReadings} pending on seq gaps)`,
      )
      return { ...incomplete(counters, watchedFromMs), cpu: cpu?.end() ?? {} }
    }
    if (atMs - lastReportMs >= REPORT_EVERY_MS) {
      lastReportMs = atMs
      const rate = (counters.applied - first.applied) / ((atMs - first.atMs) / 1000)
      progress(
        `  aggregator: ${counters.applied.toLocaleString('en-US')}/${options.totalReadings.toLocaleString('en-US')} readings applied, ${Math.round(rate).toLocaleString('en-US')}/s`,
      )
    }
  }
}

function incomplete(counters: AggregatorCounters, watchedFromMs: number): AggregatorDrain {
  return {
    readings: 0,
    seconds: (performance.now() - watchedFromMs) / 1000,
    readingsPerSecond: Number.NaN,
    appliedSeconds: Number.NaN,
    secondsToFirstApplied: Number.NaN,
    complete: false,
    counters,
    influxWriteShare: Number.NaN,
    cpuMicrosecondsPerReading: Number.NaN,
    cpu: {},
    monotonicWindow: [Number.NaN, Number.NaN],
  }
}
