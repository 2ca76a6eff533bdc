/**
 * Chain routes with the chain node frozen (attack issue 12 F2): a dedicated anvil of this test
 * (never the shared stack's) is SIGSTOPped; /healthz says so within its 2 s check, and from then
 * on the auditor's, the holder's and /operator/epochs' routes answer 503 UPSTREAM_UNAVAILABLE at
 * once (they each waited out viem's timeouts, ~30 s), without sending the node a request; after
 * SIGCONT they answer again within the breaker's one-second check. The real adapters (viem, the
 * chain check) on real sockets.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { createChainClients } from '../../runtime/clients/chain.ts'
import type { ContractsFile } from '../../runtime/contracts-file.ts'
import { createAuditReader } from '../../services/api/adapters/audit-reader.ts'
import { createChainProbe } from '../../services/api/adapters/chain-probe.ts'
import { createHolderReader } from '../../services/api/adapters/holder-reader.ts'
import { createOracleReader } from '../../services/api/adapters/oracle-reader.ts'
import { STUB_KEY, STUB_POOL, stubApp } from '../../services/api/testing/stub-app.ts'
import { createOracleChain } from '../../services/oracle/adapters/chain.ts'
import type { LeafRules } from '../../services/oracle/domain/leaf-recompute.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from '../contracts/support/dedicated-anvil.ts'
import { addPool } from '../contracts/support/oracle.ts'
import { deploySystem, poolIdHex, type System } from '../contracts/support/system.ts'

const ZERO = `0x${'0'.repeat(40)}` as const
const HOLDER = '0x14dc79964da2c08b23698b3d3cc7ca32193d9955'
let anvil: DedicatedAnvil
let system: System
let app: FastifyInstance
let dir: string
let frozen = false

beforeAll(async () => {
  anvil = await startDedicatedAnvil('api-chain-frozen')
  system = await deploySystem(anvil.endpoint)
  await addPool(system, poolIdHex(STUB_POOL), 0n)
  dir = mkdtempSync(join(tmpdir(), 'gridroot-chain-frozen-'))
  const store = createFileArtifactStore({ dir })
  const { publicClient } = createChainClients(anvil.endpoint)
  const oracle = system.contracts.revenueOracle
  const contracts = {
    version: 1,
    chainId: anvil.endpoint.chainId,
    deployer: ZERO,
    deployedAtBlock: '0',
    compilerInputHash: '',
    contracts: { deviceRegistry: ZERO, revenueOracle: oracle, identityRegistry: ZERO },
    oracle: { signers: [], threshold: 1, challengeWindowSec: 0, guardian: ZERO },
    pools: {
      [STUB_POOL]: {
        poolId: STUB_POOL,
        poolIdBytes32: poolIdHex(STUB_POOL),
        token: ZERO,
        distributor: ZERO,
        paymentToken: ZERO,
        treasury: ZERO,
        firstEpoch: 0,
        deployedAtBlock: '0',
      },
    },
  } as unknown as ContractsFile
  app = await stubApp({
    auditor: createAuditReader({
      chain: createOracleChain({ endpoint: anvil.endpoint, oracle, fromBlock: 0n }),
      store,
      registry: { get: () => undefined, devices: () => [][Symbol.iterator]() },
      // The routes here read pools and epoch records; none recomputes a leaf.
      rules: {} as LeafRules,
      pools: [STUB_POOL],
    }),
    holders: createHolderReader({ publicClient, contracts, store }),
    chain: createOracleReader({
      publicClient,
      revenueOracle: oracle,
      poolIds: new Map([[STUB_POOL, poolIdHex(STUB_POOL)]]),
    }),
    epochs: {
      closedThrough: async () => 0,
      closedEpochs: async () => [
        {
          epoch: 0,
          closedAtMs: 0,
          watermarkMs: 0,
          devices: 1,
          pools: [
            {
              poolId: STUB_POOL,
              energyWh: 1,
              revenueUnits: 1n,
              swaps: 0,
              readings: 1,
              quarantined: 0,
              devices: 1,
            },
          ],
        },
      ],
    },
    chainProbe: createChainProbe(anvil.endpoint),
  })
}, 180_000)

afterAll(async () => {
  if (frozen) process.kill(anvil.pid, 'SIGCONT')
  await app?.close()
  await anvil?.stop()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

const timed = async (url: string) => {
  const started = Date.now()
  const response = await app.inject({ url, headers: { 'x-api-key': STUB_KEY.key } })
  return { response, elapsedMs: Date.now() - started }
}

const AUDITOR_POOL = `/api/v1/auditor/pools/${STUB_POOL}`
const CHAIN_ROUTES = [
  '/api/v1/auditor/pools',
  AUDITOR_POOL,
  `/api/v1/auditor/pools/${STUB_POOL}/epochs/0/devices/pv-0001`,
  `/api/v1/holder/${HOLDER}`,
  `/api/v1/holder/${HOLDER}/pools/${STUB_POOL}`,
  '/api/v1/operator/epochs',
]

describe('chain routes with the chain node frozen (SIGSTOP)', () => {
  it('answer 503 at once once /healthz sees it down, and 200 again soon after it thaws', async () => {
    expect((await timed(AUDITOR_POOL)).response.statusCode).toBe(200)
    expect((await timed('/api/v1/operator/epochs')).response.statusCode).toBe(200)
    process.kill(anvil.pid, 'SIGSTOP')
    frozen = true
    const health = await app.inject({ url: '/healthz' })
    expect(health.statusCode).toBe(503)
    expect(health.json().checks).toContainEqual(expect.objectContaining({ name: 'chain', ok: false }))
    for (const url of CHAIN_ROUTES) {
      const { response, elapsedMs } = await timed(url)
      expect(response.statusCode, `${url}: ${response.body}`).toBe(503)
      const { error } = response.json()
      expect(error.code, url).toBe('UPSTREAM_UNAVAILABLE')
      expect(error.message, url).toMatch(/the chain node is not answering its health check/)
      expect(error.details, url).toMatchObject({ upstream: 'the chain node', retryAfterS: 2 })
      expect(response.headers['retry-after'], url).toBe('2')
      expect(elapsedMs, url).toBeLessThan(500)
    }
    // Routes that read no chain are answered as ever.
    expect((await timed('/api/v1/holder/pools')).response.statusCode).toBe(200)

    process.kill(anvil.pid, 'SIGCONT')
    frozen = false
    const thawed = Date.now()
    let status = 0
    while (status !== 200 && Date.now() - thawed < 10_000) {
      await new Promise((r) => setTimeout(r, 250))
      status = (await timed(AUDITOR_POOL)).response.statusCode
    }
    expect(status).toBe(200)
    expect(Date.now() - thawed).toBeLessThan(5_000)
  }, 90_000)
})
