/**
 * The submitter's /healthz tells the truth about its chain node: 503 with the reason while the
 * node does not answer (its anvil SIGSTOPped: connections open, nothing answers, so viem waits
 * out its timeouts), 200 again once it answers (SIGCONT). A real submitter process against an
 * anvil of the test's own (never the shared stack's) and the shared stack's Kafka.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { addPool } from '../contracts/support/oracle.ts'
import { deploySystem, poolIdHex } from '../contracts/support/system.ts'
import type { ServiceProcess } from '../support/service-process.ts'
import { type LoneSubmitter, oneChargerRegistry, startLoneSubmitter } from './support/lone-submitter.ts'

const endpoints = inject('endpoints')
const name = `osh${Date.now().toString(36)}`
const START = Date.parse('2026-06-01T00:00:00+08:00')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let anvil: DedicatedAnvil
let submitter: ServiceProcess | undefined
let lone: LoneSubmitter | undefined
let stopped = false

beforeAll(async () => {
  anvil = await startDedicatedAnvil('submitter-health')
  const system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: 60 })
  const { registry, pool } = oneChargerRegistry(name, START)
  await addPool(system, poolIdHex(pool))
  lone = await startLoneSubmitter({
    name,
    startMs: START,
    endpoints,
    anvil,
    system,
    registry,
    oracle: { threshold: 2, challengeWindowSec: 60 },
  })
  submitter = lone.process
})
afterAll(async () => {
  if (stopped) process.kill(anvil.pid, 'SIGCONT')
  await lone?.close()
  await anvil?.stop()
})

/** Polls /healthz until `until` holds for its answer; returns that answer. */
async function healthUntil(
  until: (status: number) => boolean,
  timeoutMs: number,
): Promise<{ status: number; body: Record<string, unknown>; afterMs: number }> {
  const started = Date.now()
  let last = 'no answer'
  while (Date.now() - started < timeoutMs) {
    try {
      const res = await fetch(`http://127.0.0.1:${submitter?.metricsPort}/healthz`, {
        signal: AbortSignal.timeout(5_000),
      })
      const body = (await res.json()) as Record<string, unknown>
      if (until(res.status)) return { status: res.status, body, afterMs: Date.now() - started }
      last = `${res.status} ${JSON.stringify(body)}`
    } catch (error) {
      last = `no answer: ${String(error)}`
    }
    await sleep(500)
  }
  throw new Error(`/healthz did not change within ${timeoutMs} ms (last: ${last})\n${submitter?.output()}`)
}

describe('the submitter /healthz when its chain node stops answering', () => {
  it('is 503 with the reason while anvil is stopped, and 200 again once it resumes', {
    timeout: 240_000,
  }, async () => {
    const healthy = await healthUntil((s) => s === 200, 10_000)
    expect(healthy.body.chainHealthy).toBe(true)

    process.kill(anvil.pid, 'SIGSTOP')
    stopped = true
    // A pass that waits on the chain for 30 s (or fails sooner on viem's timeout) is unhealthy.
    const down = await healthUntil((s) => s !== 200, 90_000)
    expect(down.status).toBe(503)
    expect(down.body.ok).toBe(false)
    expect(down.body.chainHealthy).toBe(false)
    expect(String(down.body.chainProblem)).toMatch(
      /waiting on the chain for \d+ s \(GRIDROOT_RPC_URL does not answer\)|the last pass over the pools failed/,
    )

    process.kill(anvil.pid, 'SIGCONT')
    stopped = false
    const back = await healthUntil((s) => s === 200, 90_000)
    expect(back.body.chainHealthy).toBe(true)
    expect(back.body.chainProblem).toBeUndefined()
  })
})
