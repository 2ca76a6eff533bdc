/**
 * One measured life of a consumer (ingest or the bare subscriber): warm up, then time it
 * draining a backlog, then (optionally) time it consuming while the same load is published.
 *
 * Drain: the consumer is paused with SIGSTOP, its connections open, while the backlog is
 * published; Mosquitto holds what the paused sockets cannot take. Then it is resumed and timed
 * from its first consumed message to its last. This is the headline because on a 2-core machine
 * it measures the consumer alone: the publisher (the bench process, which would take a good part
 * of a core) is idle while the clock runs, and the consumer never waits for input, so the rate is
 * its capacity. Pausing rather than restarting keeps the JIT warm and the connections up, and is
 * done to the subject and the baseline alike.
 *
 * Concurrent: publisher and consumer run together, as in production. Reported beside the drain
 * figure; it is lower whenever the publisher's CPU is what the consumer lacks.
 */
import type { MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import type { Publish } from '../../simulators/scenario.ts'
import type { ConsumedWindow, Consumer } from './consumers.ts'
import { type CpuUse, startCpuWindow, waitForQuietMachine } from './proc-stats.ts'
import { progress } from './progress.ts'

export interface TimedWindow extends ConsumedWindow {
  readonly messagesPerSecond: number
  readonly readingsPerSecond: number
  /** Cores used by each process while the consumer was running. */
  readonly cpu: CpuUse
  /** Cores other people's processes used in the second before the window (drain only). */
  readonly othersBusyCoresBefore?: number
}

/**
 * Before a drain is timed, wait (a while, not forever) for other people's work on a shared
 * machine to calm down, so that one run is not alone in being starved.
 */
export const QUIET = { maxOtherCores: 0.3, maxWaitMs: 15_000 }

export interface ConsumerMeasurement {
  readonly drain: TimedWindow
  readonly concurrent: TimedWindow | undefined
  /** How long publishing the backlog took while the consumer was paused. */
  readonly backlogPublishSeconds: number
}

export interface MeasureOptions {
  readonly publisher: MqttPublisher
  readonly warmUp: readonly Publish[]
  readonly backlog: readonly Publish[]
  /**
   * The backlog is published this many times for the drain: a consumer that drains it in well
   * under a second (the bare subscriber) is then timed over a window long enough that a burst
   * of someone else's work on the machine does not decide its figure.
   */
  readonly drainRepeats: number
  readonly concurrent: boolean
  readonly timeoutMs: number
  /** Processes whose CPU is reported, besides the consumer (named `subject`). */
  readonly otherPids: Readonly<Record<string, number>>
}

const monotonicSeconds = () => Number(process.hrtime.bigint()) / 1e9

function timed(window: ConsumedWindow, cpu: CpuUse): TimedWindow {
  return {
    ...window,
    messagesPerSecond: window.seconds > 0 ? window.messages / window.seconds : Number.NaN,
    readingsPerSecond: window.seconds > 0 ? window.readings / window.seconds : Number.NaN,
    cpu,
  }
}

const rate = (w: TimedWindow) =>
  `${Math.round(w.readingsPerSecond).toLocaleString('en-US')} readings/s (${Math.round(w.messagesPerSecond).toLocaleString('en-US')} msg/s over ${w.seconds.toFixed(2)} s${w.complete ? '' : ', INCOMPLETE'})`

export async function measureConsumer(
  consumer: Consumer,
  options: MeasureOptions,
): Promise<ConsumerMeasurement> {
  const pids = { subject: consumer.process.pid, ...options.otherPids }

  progress(`  ${consumer.name}: warming up with ${options.warmUp.length.toLocaleString('en-US')} messages`)
  const warm = await consumer.expect(options.warmUp.length, options.timeoutMs)
  await options.publisher.publish(options.warmUp)
  if (!(await warm.done).complete)
    throw new Error(`${consumer.name} did not consume the warm-up load in time`)

  const backlogMessages = options.backlog.length * options.drainRepeats
  const drainWatch = await consumer.expect(backlogMessages, options.timeoutMs)
  await consumer.pause()
  progress(
    `  ${consumer.name}: paused; publishing a backlog of ${backlogMessages.toLocaleString('en-US')} messages`,
  )
  const publishStartedMs = performance.now()
  for (let i = 0; i < options.drainRepeats; i++) await options.publisher.publish(options.backlog)
  const backlogPublishSeconds = (performance.now() - publishStartedMs) / 1000
  progress(
    `  ${consumer.name}: backlog published in ${backlogPublishSeconds.toFixed(1)} s; resuming, timing the drain`,
  )
  const othersBusyCores = await waitForQuietMachine(Object.values(pids), QUIET)
  const drainCpu = startCpuWindow(pids, 'subject')
  const resumedAt = monotonicSeconds()
  consumer.resume()
  const drain = { ...timed(await drainWatch.done, drainCpu.end()), othersBusyCoresBefore: othersBusyCores }
  // The monotonic clock is the one --cpu-prof time stamps use, to cut a profile to the drain.
  progress(
    `  ${consumer.name}: drained at ${rate(drain)} (monotonic ${resumedAt.toFixed(3)}-${monotonicSeconds().toFixed(3)} s)`,
  )

  let concurrent: TimedWindow | undefined
  if (options.concurrent && drain.complete) {
    progress(
      `  ${consumer.name}: publishing ${options.backlog.length.toLocaleString('en-US')} messages while it consumes`,
    )
    const watch = await consumer.expect(options.backlog.length, options.timeoutMs)
    const cpu = startCpuWindow(pids, 'subject')
    await options.publisher.publish(options.backlog)
    concurrent = timed(await watch.done, cpu.end())
    progress(`  ${consumer.name}: concurrent: ${rate(concurrent)}`)
  }
  return { drain, concurrent, backlogPublishSeconds }
}
