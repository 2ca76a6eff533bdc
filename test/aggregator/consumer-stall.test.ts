/**
 * A stalled Kafka consumer tells the truth and ends (issue 8): after an 80 s Kafka SIGSTOP an
 * outside attacker saw the aggregator stop consuming for good while /healthz said 200. On a
 * Kafka of the test's own (the shared stack's is never frozen), frozen under a running
 * aggregator with short bounds: /healthz turns 503 with the consumer's reason within the stall
 * bound, the process exits with 75 (EX_TEMPFAIL) and a fatal log after the exit bound, and a
 * new process on the thawed broker is healthy again (nothing it committed is wrong: offsets
 * follow the states they account for, services/aggregator/service.ts).
 */

import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { type DedicatedKafka, startDedicatedKafka } from '../support/dedicated-kafka.ts'
import { createHarness, type Harness } from '../support/pipeline-harness.ts'

const endpoints = inject('endpoints')
const HOUR = 3_600_000
const START = Date.parse('2026-06-01T08:00:00+08:00')
const run = `cs${Date.now().toString(36)}`
const STALL_MS = 3_000
const EXIT_MS = 15_000
const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function health(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('aggregator consumer watch (a Kafka of its own, frozen)', () => {
  it('Kafka frozen: /healthz 503 with the consumer reason within the stall bound, exit 75 after the exit bound, healthy again after', async () => {
    const kafka: DedicatedKafka = await startDedicatedKafka(join(tmpdir(), `gridroot-${run}-kafka`))
    cleanups.push(() => kafka.stop())
    const h: Harness = await createHarness({
      endpoints: { ...endpoints, kafka: kafka.endpoint },
      name: run,
      seed: 'consumer-stall',
      fleet: { chargers: 2, pv: 1, swap: 1, startMs: START, sampleMs: 300_000 },
      grid: { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 },
      durationMs: HOUR,
      scenario: {},
    })
    cleanups.push(() => h.close())
    const bounds = {
      GRIDROOT_AGG_CONSUMER_STALL: String(STALL_MS),
      GRIDROOT_AGG_CONSUMER_EXIT: String(EXIT_MS),
    }
    const aggregator = await h.startAggregator(bounds)
    const before = await health(aggregator.metricsPort)
    expect(before.status).toBe(200)
    expect(before.body.consumer).toEqual({ state: 'healthy' })
    const exited = new Promise<{ code: number | null; atMs: number }>((resolve) =>
      aggregator.child.once('exit', (code) => resolve({ code, atMs: Date.now() })),
    )

    const frozenAtMs = Date.now()
    kafka.freeze()
    let stalled: { status: number; body: Record<string, unknown> } | undefined
    while (Date.now() - frozenAtMs < EXIT_MS) {
      const h = await health(aggregator.metricsPort).catch(() => undefined)
      if (h && h.status === 503 && (h.body.consumer as { state: string }).state !== 'healthy') {
        stalled = h
        break
      }
      await sleep(250)
    }
    const stalledAfterMs = Date.now() - frozenAtMs
    expect(stalled, 'no 503 with a consumer reason while Kafka was frozen').toBeDefined()
    expect(stalledAfterMs).toBeLessThan(STALL_MS + 3_000)
    expect(stalled?.body.consumer).toMatchObject({
      state: 'stalled',
      code: expect.stringMatching(/^CONSUMER_/),
    })

    const exit = await Promise.race([exited, sleep(EXIT_MS + 20_000).then(() => undefined)])
    expect(exit, `the aggregator did not exit:\n${aggregator.output().slice(-3_000)}`).toBeDefined()
    expect(exit?.code).toBe(75)
    // Counted from the last sign of life of the consumer, just before the freeze.
    expect((exit?.atMs ?? 0) - frozenAtMs).toBeGreaterThanOrEqual(EXIT_MS - 1_000)
    expect(aggregator.output()).toContain('kafka consumer stalled past the exit bound')

    kafka.thaw()
    const again = await h.startAggregator(bounds)
    const after = await health(again.metricsPort)
    expect(after.status).toBe(200)
    expect(after.body.consumer).toEqual({ state: 'healthy' })
  }, 300_000)
})
