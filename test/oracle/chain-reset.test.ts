/**
 * A chain reset under a running submitter (attack10b F2, F3): the anvil is reset (anvil_reset:
 * a new block 0, nothing deployed), `npm run verify` then says in one line that the contracts are
 * gone (never viem's ABI dump), and after a redeploy by the repo's deploy code (the same
 * addresses come back) the submitter's /healthz stays 503 with CHAIN_RESET and its log says
 * what to do. A real submitter process against an anvil of the test's own and the shared Kafka.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  chainCliEnv,
  type DedicatedAnvil,
  startDedicatedAnvil,
} from '../contracts/support/dedicated-anvil.ts'
import { addPool } from '../contracts/support/oracle.ts'
import { deploySystem, poolIdHex, type System } from '../contracts/support/system.ts'
import { runCli } from '../support/cli-process.ts'
import type { ServiceProcess } from '../support/service-process.ts'
import { type LoneSubmitter, oneChargerRegistry, startLoneSubmitter } from './support/lone-submitter.ts'

const endpoints = inject('endpoints')
const name = `ocr${Date.now().toString(36)}`
const START = Date.parse('2026-06-01T00:00:00+08:00')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let anvil: DedicatedAnvil
let system: System
let dir: string
let pool: string
let device: string
let submitter: ServiceProcess | undefined
let lone: LoneSubmitter | undefined

const deploy = async () => {
  system = await deploySystem(anvil.endpoint)
  await addPool(system, poolIdHex(pool))
}

beforeAll(async () => {
  anvil = await startDedicatedAnvil('chain-reset')
  const { registry, pool: registryPool, device: registryDevice } = oneChargerRegistry(name, START)
  pool = registryPool
  device = registryDevice
  await deploy()
  lone = await startLoneSubmitter({ name, startMs: START, endpoints, anvil, system, registry })
  submitter = lone.process
  dir = lone.dir
})
afterAll(async () => {
  await lone?.close()
  await anvil?.stop()
})

type Health = { problems?: { code: string; message: string; hint: string }[] }
/** Polls /healthz until `until` holds for its answer (a failed pass is 503 too, before the watch). */
async function healthUntil(until: (status: number, body: Health) => boolean, timeoutMs: number) {
  const started = Date.now()
  let last = 'no answer'
  while (Date.now() - started < timeoutMs) {
    try {
      const res = await fetch(`http://127.0.0.1:${submitter?.metricsPort}/healthz`)
      const body = (await res.json()) as Health
      if (until(res.status, body)) return { status: res.status, body }
      last = `${res.status} ${JSON.stringify(body)}`
    } catch (error) {
      last = `no answer: ${String(error)}`
    }
    await sleep(500)
  }
  throw new Error(`/healthz did not change within ${timeoutMs} ms (last: ${last})\n${submitter?.output()}`)
}

describe('a chain reset under a running submitter', () => {
  it('verify names the missing contracts in one line; the submitter is 503 CHAIN_RESET, also after a redeploy', {
    timeout: 240_000,
  }, async () => {
    // viem's reset() asks for a fork; a plain anvil_reset empties the chain with a new block 0.
    await system.testClient.request({ method: 'anvil_reset', params: [] } as never)

    const verify = await runCli(
      'services/oracle/verify-cli.ts',
      ['--pool', pool, '--device', device, '--epoch', '0'],
      chainCliEnv(anvil, dir, { GRIDROOT_ARTIFACT_DIR: join(dir, 'artifacts') }) as Record<string, string>,
    )
    expect(verify.code).toBe(3)
    expect(verify.stderr.trim().split('\n')).toHaveLength(1)
    expect(verify.stderr).toMatch(
      /CONTRACTS_MISSING: no contract at RevenueOracle 0x[0-9a-fA-F]{40} on chain 31337/,
    )
    expect(verify.stderr).toContain('npm run deploy')

    const isReset = (s: number, b: Health) => s === 503 && b.problems?.[0]?.code === 'CHAIN_RESET'
    const reset = await healthUntil(isReset, 30_000)
    expect(reset.body.problems?.[0]).toMatchObject({ code: 'CHAIN_RESET' })
    expect(reset.body.problems?.[0]?.message).toMatch(/the chain was reset under this service: block 0/)

    await deploy()
    await sleep(6_000)
    const after = await healthUntil((s) => s !== 0, 5_000)
    expect(after.status).toBe(503)
    expect(after.body.problems?.[0]).toMatchObject({ code: 'CHAIN_RESET' })
    const fatal = (submitter?.output() ?? '')
      .split('\n')
      .filter((line) => line.includes('"code":"CHAIN_RESET"'))
    expect(fatal).toHaveLength(1)
    expect(fatal[0]).toContain('"level":60')
    expect(fatal[0]).toMatch(/npm run deploy, then npm run pools -- apply .*restart this service/)
  })
})
