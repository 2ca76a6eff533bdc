/**
 * Runs the baseline of the aggregator benchmark (./aggregate-bare-consumer.ts) in its own
 * process over a preloaded topic and returns its rate (the median of its passes) and the cores
 * it and Kafka used over all passes.
 */
import type { Endpoints } from '../../runtime/endpoints.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import type { BareConsumerReply, BarePass } from './aggregate-bare-consumer.ts'
import { type BenchChild, ChildExitedError, spawnTsChild } from './child.ts'
import { type CpuUse, memoryMiB, startCpuWindow } from './proc-stats.ts'
import { median } from './results.ts'

export interface BaselineDrain {
  /** The median pass's rate. */
  readonly readingsPerSecond: number
  readonly passes: readonly (BarePass & { readonly readingsPerSecond: number })[]
  readonly complete: boolean
  /** CPU time of the consumer process per reading decoded, over all passes. */
  readonly cpuMicrosecondsPerReading: number
  readonly peakRssMiB: number
  readonly cpu: CpuUse
}

export async function measureBareConsumer(options: {
  readonly endpoints: Endpoints
  readonly topic: string
  readonly group: string
  readonly expectedReadings: number
  /** Times the topic is read (and each pass timed) by the same consumer. */
  readonly passes: number
  readonly timeoutMs: number
  readonly otherPids: Readonly<Record<string, number>>
  /** Called with the child as soon as it runs, so that the caller can stop it whatever happens. */
  readonly onStarted: (child: BenchChild) => void
}): Promise<BaselineDrain> {
  const child = spawnTsChild('bench/support/aggregate-bare-consumer.ts', {
    env: {
      ...endpointsToEnv(options.endpoints),
      BENCH_TOPIC: options.topic,
      BENCH_GROUP: options.group,
      BENCH_EXPECTED_READINGS: String(options.expectedReadings),
      BENCH_PASSES: String(options.passes),
    },
    ipc: true,
  })
  options.onStarted(child)
  try {
    let cpu: ReturnType<typeof startCpuWindow> | undefined
    let cpuFromMs = 0
    const reply = await new Promise<Extract<BareConsumerReply, { type: 'done' }> | undefined>(
      (resolve, reject) => {
        const timer = setTimeout(() => resolve(undefined), options.timeoutMs)
        child.child.on('message', (message: BareConsumerReply) => {
          if (message.type === 'first') {
            cpu = startCpuWindow({ subject: child.pid, ...options.otherPids })
            cpuFromMs = performance.now()
          }
          if (message.type === 'done') {
            clearTimeout(timer)
            resolve(message)
          }
        })
        void child.exited.then((code) => {
          clearTimeout(timer)
          reject(new ChildExitedError('the bare kafkajs consumer', code, child.output()))
        })
      },
    )
    const cores = cpu?.end() ?? {}
    const cpuSeconds = ((cores.subject ?? Number.NaN) * (performance.now() - cpuFromMs)) / 1000
    const { peakRssMiB } = memoryMiB(child.pid)
    if (reply === undefined) {
      return {
        readingsPerSecond: Number.NaN,
        passes: [],
        complete: false,
        cpuMicrosecondsPerReading: Number.NaN,
        peakRssMiB,
        cpu: cores,
      }
    }
    const passes = reply.passes.map((p) => ({ ...p, readingsPerSecond: p.readings / p.seconds }))
    return {
      readingsPerSecond: median(passes.map((p) => p.readingsPerSecond)),
      passes,
      complete: true,
      cpuMicrosecondsPerReading: (cpuSeconds / reply.decodedAfterFirst) * 1e6,
      peakRssMiB,
      cpu: cores,
    }
  } finally {
    await child.stop(5_000)
  }
}
