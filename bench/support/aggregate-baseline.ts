/**
 * Runs the baseline of the aggregator benchmark (./aggregate-bare-consumer.ts) in its own
 * process over a preloaded topic and returns its rate and the cores it and Kafka used.
 */
import type { Endpoints } from '../../runtime/endpoints.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import type { BareConsumerReply } from './aggregate-bare-consumer.ts'
import { type BenchChild, ChildExitedError, spawnTsChild } from './child.ts'
import { type CpuUse, memoryMiB, startCpuWindow } from './proc-stats.ts'

export interface BaselineDrain {
  readonly readings: number
  readonly records: number
  readonly seconds: number
  readonly readingsPerSecond: number
  readonly batches: number
  readonly complete: boolean
  readonly peakRssMiB: number
  readonly cpu: CpuUse
}

export async function measureBareConsumer(options: {
  readonly endpoints: Endpoints
  readonly topic: string
  readonly group: string
  readonly expectedReadings: number
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
    },
    ipc: true,
  })
  options.onStarted(child)
  try {
    let cpu: ReturnType<typeof startCpuWindow> | undefined
    const reply = await new Promise<Extract<BareConsumerReply, { type: 'done' }> | undefined>(
      (resolve, reject) => {
        const timer = setTimeout(() => resolve(undefined), options.timeoutMs)
        child.child.on('message', (message: BareConsumerReply) => {
          if (message.type === 'first') cpu = startCpuWindow({ subject: child.pid, ...options.otherPids })
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
    const { peakRssMiB } = memoryMiB(child.pid)
    if (reply === undefined) {
      return {
        readings: 0,
        records: 0,
        seconds: options.timeoutMs / 1000,
        readingsPerSecond: Number.NaN,
        batches: 0,
        complete: false,
        peakRssMiB,
        cpu: cores,
      }
    }
    const seconds = (reply.lastAtMs - reply.firstAtMs) / 1000
    return {
      readings: reply.readings,
      records: reply.records,
      seconds,
      readingsPerSecond: reply.readings / seconds,
      batches: reply.batches,
      complete: true,
      peakRssMiB,
      cpu: cores,
    }
  } finally {
    await child.stop(5_000)
  }
}
