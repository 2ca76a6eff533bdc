/**
 * /healthz checks the chain node (attack12d F4): a frozen node, an HTTP 503 and a refused port
 * are `chain` ok:false within the probe's 2 s, so the hint of the chain routes' 503 ("/healthz
 * says which one is down") is true; an answering node is ok.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHAIN_PROBE_TIMEOUT_MS, createChainProbe } from './adapters/chain-probe.ts'
import {
  type FakeUpstream,
  frozenUpstream,
  jsonRpcUpstream,
  refusingUpstream,
  statusUpstream,
} from './testing/frozen-node.ts'
import { stubApp } from './testing/stub-app.ts'

let frozen: FakeUpstream
let http503: FakeUpstream
let answering: FakeUpstream
let refusing: string
beforeAll(async () => {
  ;[frozen, http503, answering] = await Promise.all([
    frozenUpstream(),
    statusUpstream(503),
    jsonRpcUpstream('0x2a'),
  ])
  refusing = await refusingUpstream()
})
afterAll(async () => {
  await Promise.all([frozen, http503, answering].map((u) => u.close()))
})

const healthz = async (rpcUrl: string) => {
  const app = await stubApp({ probes: [createChainProbe({ rpcUrl, chainId: 31337 })] })
  const started = Date.now()
  const response = await app.inject({ url: '/healthz' })
  const elapsedMs = Date.now() - started
  await app.close()
  return { status: response.statusCode, body: response.json(), elapsedMs }
}

describe('/healthz with a chain probe', () => {
  for (const [name, url, detail] of [
    ['frozen', () => frozen.url, /did not answer eth_blockNumber in 2000 ms/],
    ['answering HTTP 503', () => http503.url, /answered HTTP 503/],
    ['refusing connections', () => refusing, /not reachable/],
  ] as const) {
    it(`is 503 with chain ok:false when the node is ${name}, within the probe's timeout`, async () => {
      const { status, body, elapsedMs } = await healthz(url())
      expect(status).toBe(503)
      expect(body.checks).toEqual([{ name: 'chain', ok: false, detail: expect.stringMatching(detail) }])
      expect(elapsedMs).toBeLessThan(CHAIN_PROBE_TIMEOUT_MS + 1_000)
    }, 10_000)
  }

  it('is 200 with chain ok while the node answers', async () => {
    const { status, body } = await healthz(answering.url)
    expect(status).toBe(200)
    expect(body.checks).toEqual([{ name: 'chain', ok: true }])
  })
})
