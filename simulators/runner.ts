/**
 * Drives a scenario in simulated time: tick by tick, publishes what each tick produced, then
 * waits until the wall clock catches up with simulated time ÷ speed (or not at all at 'max').
 * Reports progress so a long run shows it is moving.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Publish, Scenario } from './scenario.ts'

export interface RunOptions {
  readonly endMs: number
  readonly tickMs: number
  /** Simulated milliseconds per wall millisecond; Infinity publishes as fast as the broker takes. */
  readonly speed: number
  readonly publish: (batch: readonly Publish[]) => Promise<void>
  readonly onProgress?: (progress: RunProgress) => void
  readonly progressEveryMs?: number
  readonly signal?: AbortSignal
}

export interface RunProgress {
  readonly simTimeMs: number
  readonly fraction: number
  readonly published: number
  readonly readings: number
  readonly elapsedMs: number
  /** How far the wall clock runs behind the requested speed (0 when keeping up). */
  readonly lagMs: number
  readonly done: boolean
}

export async function runScenario(scenario: Scenario, options: RunOptions): Promise<RunProgress> {
  const startSimMs = scenario.timeMs
  const startWall = performance.now()
  const progressEveryMs = options.progressEveryMs ?? 2000
  let lastReport = startWall
  let published = 0
  let readings = 0
  let lagMs = 0
  const progress = (done: boolean): RunProgress => ({
    simTimeMs: scenario.timeMs,
    fraction: (scenario.timeMs - startSimMs) / Math.max(1, options.endMs - startSimMs),
    published,
    readings,
    elapsedMs: performance.now() - startWall,
    lagMs,
    done,
  })
  const send = async (batch: readonly Publish[]) => {
    if (batch.length === 0) return
    await options.publish(batch)
    published += batch.length
    for (const p of batch) readings += p.readings
  }
  while (scenario.timeMs < options.endMs && !options.signal?.aborted) {
    const toMs = Math.min(options.endMs, scenario.timeMs + options.tickMs)
    await send(scenario.tick(toMs))
    if (Number.isFinite(options.speed)) {
      const dueWall = startWall + (toMs - startSimMs) / options.speed
      const waitMs = dueWall - performance.now()
      lagMs = Math.max(0, -waitMs)
      if (waitMs > 0) await sleep(waitMs)
    }
    if (performance.now() - lastReport >= progressEveryMs) {
      lastReport = performance.now()
      options.onProgress?.(progress(false))
    }
  }
  await send(scenario.flush())
  const final = progress(true)
  options.onProgress?.(final)
  return final
}
