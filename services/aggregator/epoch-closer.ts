/**
 * The epoch closer: one per deployment at a time, the instance that owns partition 0 of
 * telemetry.v1. It reads every partition's durable watermark from InfluxDB, and for each epoch
 * every partition has passed by the grace period (domain/epoch-close.ts), in order:
 *
 * 1. sums the epoch's totals (its intervals and the adjustments booked into it), which no
 *    instance can change any more (the watermarks it read are written after the data they
 *    account for, and every owner treats the epoch as late from then on);
 * 2. writes them as `epoch_device` and `epoch_pool` points and waits for InfluxDB;
 * 3. announces the epoch on epochs.v1 with the per-pool totals and a digest of the per-device
 *    ones, in a Kafka transaction that also records "announced through" (adapters/kafka-epochs.ts):
 *    once, however closers come and go, since activating a closer fences the one before;
 * 4. writes the `epoch_closed` marker (for readers of InfluxDB).
 *
 * A crash between 2 and 3 makes the next closer sum and write the same totals again (the epoch
 * cannot change any more), and announce. A crash between 3 and 4 leaves the marker missing: a
 * closer, when it becomes active, rewrites the totals and the marker of the last announced
 * epoch (same totals; `closedAtMs` is then the time of the rewrite).
 */
import type { TimeGrid } from '../../core/epochs/grid.ts'
import type { Logger } from '../../runtime/log.ts'
import { CloserFencedError } from './adapters/kafka-epochs.ts'
import { toLineProtocol } from './adapters/line-protocol.ts'
import {
  closableThroughEpoch,
  epochAnnouncement,
  epochClosedMarker,
  epochTotalsPoints,
  globalWatermark,
} from './domain/epoch-close.ts'
import type { AggregatorMetrics } from './metrics.ts'
import type { AggregatorStore, EpochAnnouncer } from './ports.ts'
import type { InfluxWriter } from './write-queue.ts'

/** Epochs closed per check at most, so that a long backlog of empty epochs does not hog InfluxDB. */
const MAX_EPOCHS_PER_CHECK = 50

export interface EpochCloserOptions {
  readonly grid: TimeGrid
  readonly graceMs: number
  readonly consumerGroup: string
  /** Partitions of telemetry.v1 now (each must have a watermark before anything closes). */
  readonly partitionCount: () => Promise<number>
  readonly store: AggregatorStore
  readonly writer: InfluxWriter
  readonly announcer: EpochAnnouncer
  readonly metrics: AggregatorMetrics
  readonly logger: Logger
}

export interface EpochCloser {
  /** Called on every rebalance: closes only while this instance owns partition 0. */
  setActive(active: boolean): void
  /** One pass; passes never overlap (a call during one returns at once). */
  check(): Promise<void>
  status(): {
    readonly active: boolean
    readonly closedThrough: number | undefined
    readonly holding?: string
  }
  stop(): Promise<void>
}

export function createEpochCloser(o: EpochCloserOptions): EpochCloser {
  let active = false
  let activated = false
  let closedThrough: number | undefined
  let holding: string | undefined
  let running: Promise<void> | undefined
  let abort = new AbortController()

  /** Writes an epoch's totals and, once announced, its marker. */
  const writeTotals = async (epoch: number, watermarkMs: number, announced: boolean) => {
    const totals = await o.store.epochTotals(o.grid, epoch)
    await o.writer.writeLines(epochTotalsPoints(o.grid, epoch, totals).map(toLineProtocol), abort.signal)
    const announcement = epochAnnouncement(o.grid, epoch, totals)
    if (!announced) await o.announcer.announce(announcement)
    closedThrough = epoch
    await o.writer.writeLines(
      [toLineProtocol(epochClosedMarker(o.grid, announcement, Date.now(), watermarkMs))],
      abort.signal,
    )
    return announcement
  }

  const pass = async () => {
    if (!active) return
    const [partitions, marks] = await Promise.all([
      o.partitionCount(),
      o.store.loadWatermarks(o.consumerGroup),
    ])
    const global = globalWatermark(partitions, marks)
    if (!activated) {
      await o.announcer.activate()
      closedThrough = await o.announcer.closedThrough()
      activated = true
      o.logger.info({ closedThrough }, 'epoch closer active')
      if (closedThrough !== undefined) await writeTotals(closedThrough, global ?? 0, true)
    }
    if (global === undefined) {
      holding = `${partitions - marks.length} of ${partitions} partitions have no watermark yet`
      return
    }
    holding = undefined
    o.metrics.globalWatermark.set(global)
    const from = (closedThrough ?? -1) + 1
    const through = Math.min(closableThroughEpoch(o.grid, o.graceMs, global), from + MAX_EPOCHS_PER_CHECK - 1)
    for (let epoch = from; epoch <= through && active; epoch++) {
      const announcement = await writeTotals(epoch, global, false)
      o.metrics.closedEpoch.set(epoch)
      o.logger.info(
        { epoch, devices: announcement.devices, digest: announcement.digest, globalWatermarkMs: global },
        'epoch closed and announced',
      )
    }
  }

  const release = async () => {
    activated = false
    closedThrough = undefined
    await o.announcer.deactivate()
  }

  return {
    setActive(next) {
      if (next === active) return
      active = next
      if (!next) {
        abort.abort()
        abort = new AbortController()
        void (running ?? Promise.resolve()).finally(release)
      }
    },
    check() {
      if (running) return running
      running = pass()
        .catch(async (error: unknown) => {
          if (error instanceof CloserFencedError) {
            o.logger.info('another instance closes epochs now')
            await release()
          } else if (active) o.logger.warn({ err: error }, 'epoch close pass failed; retried next check')
        })
        .finally(() => {
          running = undefined
        })
      return running
    },
    status: () => ({ active, closedThrough, ...(holding === undefined ? {} : { holding }) }),
    async stop() {
      active = false
      abort.abort()
      await running
      await release()
    },
  }
}
