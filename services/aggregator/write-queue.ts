/**
 * The aggregator's writes: one queue of jobs run one at a time in order (a job writes a batch's
 * data, then its device states and watermarks, then commits its offsets), and the InfluxDB
 * writer those jobs and the epoch closer use.
 *
 * The writer retries through runtime/retry.ts, which asks the error: InfluxDB down, 5xx or a
 * timeout backs off and tries again (offsets stay uncommitted meanwhile); a write InfluxDB will
 * never take (4xx: a field type conflict, a point outside the retention policy) is split in
 * halves until the refused lines are found, those are dead-lettered with InfluxDB's message as
 * the reason, and the rest is written: one poison line never stalls the queue for every
 * partition. Every write takes an abort signal: a job of a consumer generation that ended (its
 * instance lost its partitions) stops writing instead of retrying into state another instance
 * now owns.
 */
import type { Logger } from '../../runtime/log.ts'
import { retry } from '../../runtime/retry.ts'
import { InfluxWriteRefusedError } from './adapters/influx-store.ts'
import type { AggregatorMetrics } from './metrics.ts'
import type { AggregatorStore, DeadLetterSink } from './ports.ts'
import type { StoreHealth } from './store-health.ts'

export interface InfluxWriterOptions {
  readonly store: AggregatorStore
  readonly deadLetters: DeadLetterSink
  readonly chunkLines: number
  /** Chunks of one write sent at once (lets InfluxDB use more than one core). */
  readonly concurrency: number
  readonly metrics: AggregatorMetrics
  readonly logger: Logger
  /** Every request is tracked here: /healthz fails while InfluxDB fails or does not answer. */
  readonly health: StoreHealth
}

export class InfluxWriter {
  private failingSinceMs: number | undefined

  constructor(private readonly o: InfluxWriterOptions) {}

  /**
   * False while the last request failed for a reason other than the lines themselves, or one has
   * waited past the stuck bound (store-health.ts).
   */
  get healthy(): boolean {
    return this.o.health.healthy
  }

  /** Many lines, in chunks, `concurrency` requests at a time; resolves when all landed or were dead-lettered. */
  async writeLines(lines: readonly string[], signal: AbortSignal): Promise<void> {
    let next = 0
    const worker = async () => {
      while (next < lines.length) {
        signal.throwIfAborted()
        const chunk = lines.slice(next, next + this.o.chunkLines)
        next += chunk.length
        await this.writeOrSplit(chunk, signal)
      }
    }
    await Promise.all(
      Array.from(
        { length: Math.min(this.o.concurrency, Math.ceil(lines.length / this.o.chunkLines)) },
        worker,
      ),
    )
  }

  /** Lines that must land together: one request (device states with their watermarks). */
  async writeTogether(lines: readonly string[], signal: AbortSignal): Promise<void> {
    if (lines.length > 0) await this.writeOrSplit(lines, signal)
  }

  private async writeOrSplit(lines: readonly string[], signal: AbortSignal): Promise<void> {
    try {
      await this.writeWithRetry(lines, signal)
    } catch (error) {
      if (!(error instanceof InfluxWriteRefusedError)) throw error
      if (lines.length === 1) return this.deadLetter(lines[0] as string, error, signal)
      const half = Math.ceil(lines.length / 2)
      await this.writeOrSplit(lines.slice(0, half), signal)
      await this.writeOrSplit(lines.slice(half), signal)
    }
  }

  private async writeWithRetry(lines: readonly string[], signal: AbortSignal): Promise<void> {
    const started = performance.now()
    await retry(
      () =>
        this.o.health.track('influx write', () => this.o.store.writeRequest(lines, signal), {
          answered: (error) => error instanceof InfluxWriteRefusedError,
          signal,
        }),
      {
        operation: 'influx write',
        signal,
        onRetry: ({ error, attempt }) => {
          this.o.metrics.influxWriteFailures.inc()
          this.o.metrics.influxDown.set(1)
          if (this.failingSinceMs === undefined || attempt % 10 === 0) {
            this.o.logger.warn(
              { err: error, attempt, lines: lines.length },
              'influxdb write failed; retrying, offsets not committed',
            )
          }
          this.failingSinceMs ??= Date.now()
        },
      },
    )
    this.o.metrics.writeSeconds.observe((performance.now() - started) / 1000)
    if (this.failingSinceMs !== undefined) this.o.logger.info('influxdb writes succeed again')
    this.failingSinceMs = undefined
    this.o.metrics.influxDown.set(0)
  }

  private async deadLetter(line: string, error: InfluxWriteRefusedError, signal: AbortSignal): Promise<void> {
    this.o.metrics.influxRefusedLines.inc()
    this.o.logger.error(
      { status: error.status, reason: error.serverMessage.slice(0, 300), line: line.slice(0, 300) },
      'influxdb refused a line; dead-lettered',
    )
    await retry(
      () =>
        this.o.deadLetters.send([
          {
            reason: 'AGG_INFLUX_REFUSED',
            detail: `HTTP ${error.status}: ${error.serverMessage}`,
            key: (line.split(' ', 1)[0] ?? '').slice(0, 200),
            value: line,
            source: { line: true },
          },
        ]),
      { operation: 'dead-letter produce', signal },
    )
    this.o.metrics.deadLettered.inc({ reason: 'AGG_INFLUX_REFUSED' })
  }
}

/** Jobs run one at a time, in the order queued. */
export class WriteQueue {
  private tail: Promise<void> = Promise.resolve()
  private readonly inQueue = new Set<Promise<void>>()
  private runningSinceMs: number | undefined

  constructor(private readonly logger: Logger) {}

  enqueue(job: () => Promise<void>): Promise<void> {
    const run = this.tail.then(async () => {
      this.runningSinceMs = Date.now()
      try {
        await job()
      } finally {
        this.runningSinceMs = undefined
      }
    })
    this.tail = run.catch((error: unknown) => this.logger.warn({ err: error }, 'write job did not finish'))
    this.inQueue.add(run)
    const forget = () => this.inQueue.delete(run)
    run.then(forget, forget)
    return run
  }

  /** Resolves when every job queued so far (and any they queued) has finished, well or not. */
  async drain(): Promise<void> {
    while (this.inQueue.size > 0) await Promise.allSettled([...this.inQueue])
  }

  get depth(): number {
    return this.inQueue.size
  }

  /** How long the job in flight has been running (0 when idle): a stuck queue shows here. */
  busyForMs(nowMs: number): number {
    return this.runningSinceMs === undefined ? 0 : nowMs - this.runningSinceMs
  }
}
