/**
 * The two consumers the ingest benchmarks time, behind one interface: ingest (the subject,
 * counted by its `accepted` counters on /metrics) and the bare mqtt.js subscriber (a baseline,
 * which times itself). Both are separate processes that SIGSTOP can pause with their MQTT
 * connections open, which is how a backlog is made (see ../ingest.bench.ts).
 */
import type { Endpoints } from '../../runtime/endpoints.ts'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import type { BareSubscriberReply, BareSubscriberRequest } from './bare-subscriber.ts'
import { type BenchChild, ChildExitedError, spawnTsChild } from './child.ts'
import type { IngestProcess } from './ingest-process.ts'
import { progress, sleep } from './progress.ts'

/** Messages consumed after the first one seen, and the time from that first one to the last. */
export interface ConsumedWindow {
  readonly messages: number
  readonly readings: number
  readonly seconds: number
  /** False when the timeout came first: the figures cover what was consumed until then. */
  readonly complete: boolean
  /** Ingest only: records per Kafka produce request over the window. */
  readonly recordsPerProduceRequest?: number
}

export interface Consumer {
  readonly name: string
  readonly process: BenchChild
  /**
   * Starts watching for the next `messages` messages (call it while running, before pausing);
   * `done` settles when they are consumed or after `timeoutMs`.
   */
  expect(messages: number, timeoutMs: number): Promise<{ readonly done: Promise<ConsumedWindow> }>
  pause(): Promise<void>
  resume(): void
  stop(): Promise<void>
}

/** How often ingest's counters are read: coarse enough to cost it nothing measurable. */
const POLL_MS = 50
const REPORT_EVERY_MS = 2_000

export function ingestConsumer(ingest: IngestProcess): Consumer {
  let paused = false
  // A read of /metrics must not be left waiting on a stopped process (it would time out).
  let reading: Promise<unknown> = Promise.resolve()
  const counters = () => {
    const read = ingest.counters()
    reading = read.catch(() => undefined)
    return read
  }
  return {
    name: 'ingest',
    process: ingest,
    async pause() {
      paused = true
      await reading
      ingest.pause()
    },
    resume() {
      ingest.resume()
      paused = false
    },
    stop: () => ingest.stop(),
    async expect(messages, timeoutMs) {
      const start = await counters()
      const target = start.messagesAccepted + messages
      const done = (async (): Promise<ConsumedWindow> => {
        const deadline = performance.now() + timeoutMs
        let first:
          | { atMs: number; messages: number; readings: number; requests: number; records: number }
          | undefined
        let lastReportMs = performance.now()
        for (;;) {
          await sleep(POLL_MS)
          if (paused) continue
          const atMs = performance.now()
          const now = await counters()
          if (first === undefined && now.messagesAccepted > start.messagesAccepted) {
            first = {
              atMs,
              messages: now.messagesAccepted,
              readings: now.readingsAccepted,
              requests: now.produceRequests,
              records: now.producedRecords,
            }
            continue
          }
          const complete = now.messagesAccepted >= target
          if (first !== undefined && (complete || atMs > deadline)) {
            return {
              messages: now.messagesAccepted - first.messages,
              readings: now.readingsAccepted - first.readings,
              seconds: (atMs - first.atMs) / 1000,
              complete,
              recordsPerProduceRequest:
                (now.producedRecords - first.records) / (now.produceRequests - first.requests),
            }
          }
          if (first === undefined && atMs > deadline)
            return { messages: 0, readings: 0, seconds: 0, complete }
          if (atMs - lastReportMs >= REPORT_EVERY_MS && first !== undefined) {
            lastReportMs = atMs
            const sofar = now.messagesAccepted - start.messagesAccepted
            const rate = (now.messagesAccepted - first.messages) / ((atMs - first.atMs) / 1000)
            progress(
              `  ingest: ${sofar.toLocaleString('en-US')}/${messages.toLocaleString('en-US')} messages, ${Math.round(rate).toLocaleString('en-US')} msg/s`,
            )
          }
        }
      })()
      return { done }
    },
  }
}

export async function startBareSubscriber(options: {
  readonly endpoints: Endpoints
  readonly connections: number
  readonly group: string
  readonly readingsPerMessage: number
}): Promise<Consumer> {
  const child = spawnTsChild('bench/support/bare-subscriber.ts', {
    env: {
      ...endpointsToEnv(options.endpoints),
      BENCH_BARE_CONNECTIONS: String(options.connections),
      BENCH_BARE_GROUP: options.group,
    },
    ipc: true,
  })
  const replies: BareSubscriberReply[] = []
  let wake: (() => void) | undefined
  child.child.on('message', (reply: BareSubscriberReply) => {
    replies.push(reply)
    wake?.()
  })
  const next = async <T extends BareSubscriberReply['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<BareSubscriberReply, { type: T }> | undefined> => {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const index = replies.findIndex((r) => r.type === type)
      if (index >= 0) return replies.splice(index, 1)[0] as Extract<BareSubscriberReply, { type: T }>
      if (child.child.exitCode !== null)
        throw new ChildExitedError('the bare subscriber', child.child.exitCode, child.output())
      const left = deadline - performance.now()
      if (left <= 0) return undefined
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, Math.min(left, 500))
      })
    }
  }
  const request = (message: BareSubscriberRequest) => child.child.send(message)
  if ((await next('ready', 30_000)) === undefined) {
    await child.stop()
    throw new Error(`the bare subscriber did not connect within 30 s:\n${child.output()}`)
  }
  return {
    name: 'bare mqtt.js subscriber',
    process: child,
    pause: async () => child.pause(),
    resume: () => child.resume(),
    stop: () => child.stop(),
    async expect(messages, timeoutMs) {
      request({ type: 'arm', messages })
      if ((await next('armed', 10_000)) === undefined) throw new Error('the bare subscriber did not answer')
      const done = (async (): Promise<ConsumedWindow> => {
        const reply = await next('done', timeoutMs)
        if (reply !== undefined) {
          // The first message marks the start, so it is not counted in the rate.
          const counted = reply.messages - 1
          return {
            messages: counted,
            readings: counted * options.readingsPerMessage,
            seconds: (reply.lastAtMs - reply.firstAtMs) / 1000,
            complete: true,
          }
        }
        return { messages: 0, readings: 0, seconds: timeoutMs / 1000, complete: false }
      })()
      return { done }
    },
  }
}
