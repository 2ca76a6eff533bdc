/**
 * A chain node that does not answer (frozen, refusing, answering HTTP 503) is never a verdict
 * and never a bug: the auditor's verify route, the holder routes and /operator/epochs answer 503
 * UPSTREAM_UNAVAILABLE naming the chain (attack12d F2, F3); only RevenueOracle's own `false` fails
 * CHAIN_PROOF. The real adapters (viem, a real artifact store) read real sockets here.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { indexRegistry } from '../../core/identity/registry.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { createChainClients } from '../../runtime/clients/chain.ts'
import type { ContractsFile } from '../../runtime/contracts-file.ts'
import { createOracleChain } from '../oracle/adapters/chain.ts'
import { runFleet } from '../oracle/domain/fleet-replay.fixture.ts'
import { buildPoolEpoch, isProblem } from '../oracle/domain/pool-epoch.ts'
import type { EpochRecord } from '../oracle/ports.ts'
import { createAuditReader } from './adapters/audit-reader.ts'
import { createHolderReader } from './adapters/holder-reader.ts'
import type { AuditReader, HolderReader } from './ports.ts'
import { type FakeUpstream, frozenUpstream, refusingUpstream, statusUpstream } from './testing/frozen-node.ts'
import { STUB_KEY, stubApp } from './testing/stub-app.ts'

const CHAIN_ID = 31337
const ZERO = `0x${'0'.repeat(40)}` as const
/** viem's per-request timeout here: a frozen node costs a test ~1 s (3 attempts), not 30 s. */
const TIMEOUT_MS = 250

const { replay, registry } = runFleet({ duplicate: 0, reorder: 0 })
const epoch = 1
const results = replay.epochResults(epoch)
const poolId = results[0]?.poolId as string
const poolEpoch = buildPoolEpoch(poolId, epoch, 0, results, (d) => replay.paidReadings(epoch, d), replay)
if (isProblem(poolEpoch)) throw new Error(poolEpoch.detail)
const deviceId = poolEpoch.leaves[0]?.deviceId as string
const devices = indexRegistry([...registry.values()])

const dir = mkdtempSync(join(tmpdir(), 'gridroot-chain-unavailable-'))
const store = createFileArtifactStore({ dir })
const upstreams: FakeUpstream[] = []
let frozen: FakeUpstream
let http503: FakeUpstream
let refusing: string

beforeAll(async () => {
  await store.put(poolEpoch.treeBytes)
  await store.put(poolEpoch.archiveBytes)
  frozen = await frozenUpstream()
  http503 = await statusUpstream(503)
  refusing = await refusingUpstream()
  upstreams.push(frozen, http503)
})
afterAll(async () => {
  for (const u of upstreams) await u.close()
  rmSync(dir, { recursive: true, force: true })
})

/** An auditor whose commitment reads answer, and whose verifyDeviceLeaf goes to `rpcUrl`. */
function auditorOn(verifyDeviceLeaf: AuditReaderChain['verifyDeviceLeaf']): AuditReader {
  const p = poolEpoch as Exclude<typeof poolEpoch, { detail: string }>
  const record = { status: 'final', attempt: 0, root: p.proposal.root, finalizesAtSec: 1n } as EpochRecord
  return createAuditReader({
    chain: {
      pool: async () => ({ firstEpoch: 0, nextEpoch: 3 }),
      epochRecord: async () => record,
      finalized: async () => ({
        root: p.proposal.root,
        revenueUnits: p.proposal.revenueUnits,
        energyWh: p.proposal.energyWh,
        leafCount: p.proposal.leafCount,
        treeHash: p.proposal.treeHash,
        archiveHash: p.proposal.archiveHash,
      }),
      verifyDeviceLeaf,
    },
    store,
    registry: devices,
    rules: replay,
    pools: [poolId],
  })
}
type AuditReaderChain = Parameters<typeof createAuditReader>[0]['chain']

const oracleLeafOn = (rpcUrl: string) =>
  createOracleChain({
    endpoint: { rpcUrl, chainId: CHAIN_ID },
    oracle: ZERO,
    fromBlock: 0n,
    timeoutMs: TIMEOUT_MS,
  }).verifyDeviceLeaf

async function appWith(ports: { auditor?: AuditReader; holders?: HolderReader }): Promise<FastifyInstance> {
  return stubApp({
    registry: devices,
    ...ports,
    epochs: {
      closedThrough: async () => epoch,
      closedEpochs: async () => [
        {
          epoch,
          closedAtMs: 0,
          watermarkMs: 0,
          devices: 1,
          pools: [
            {
              poolId,
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
  })
}

const auditUrl = () => `/api/v1/auditor/pools/${poolId}/epochs/${epoch}/devices/${deviceId}`

describe('auditor verify with a chain node that does not answer (attack12d F2)', () => {
  for (const [name, url] of [
    ['frozen', () => frozen.url],
    ['answering HTTP 503', () => http503.url],
    ['refusing connections', () => refusing],
  ] as const) {
    it(`is 503 UPSTREAM_UNAVAILABLE naming the chain, not verified:false, with the node ${name}`, async () => {
      const app = await appWith({ auditor: auditorOn(oracleLeafOn(url())) })
      const response = await app.inject({ url: auditUrl() })
      expect(response.statusCode, response.body).toBe(503)
      const { error } = response.json()
      expect(error.code).toBe('UPSTREAM_UNAVAILABLE')
      expect(error.message).toMatch(/chain node did not answer RevenueOracle\.verifyDeviceLeaf/)
      await app.close()
    }, 15_000)
  }

  it('fails CHAIN_PROOF (200 verified:false) when RevenueOracle itself answers false', async () => {
    const app = await appWith({ auditor: auditorOn(async () => false) })
    const response = await app.inject({ url: auditUrl() })
    expect(response.statusCode, response.body).toBe(200)
    const body = response.json()
    expect(body.verified).toBe(false)
    expect(body.checks.find((c: { check: string }) => c.check === 'CHAIN_PROOF')).toMatchObject({
      ok: false,
      detail: 'RevenueOracle.verifyDeviceLeaf returned false',
    })
    await app.close()
  })

  it('verifies when RevenueOracle answers true', async () => {
    const app = await appWith({ auditor: auditorOn(async () => true) })
    const response = await app.inject({ url: auditUrl() })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json().verified).toBe(true)
    await app.close()
  })
})

const HOLDER = '0x14dc79964da2c08b23698b3d3cc7ca32193d9955'

function holdersOn(rpcUrl: string): HolderReader {
  const contracts = {
    version: 1,
    chainId: CHAIN_ID,
    deployer: ZERO,
    deployedAtBlock: '0',
    compilerInputHash: '',
    contracts: { deviceRegistry: ZERO, revenueOracle: ZERO, identityRegistry: ZERO },
    oracle: { signers: [], threshold: 1, challengeWindowSec: 0, guardian: ZERO },
    pools: {
      [poolId]: {
        poolId,
        poolIdBytes32: `0x${'0'.repeat(64)}`,
        token: ZERO,
        distributor: ZERO,
        paymentToken: ZERO,
        treasury: ZERO,
        firstEpoch: 0,
        deployedAtBlock: '0',
      },
    },
  } as unknown as ContractsFile
  const { publicClient } = createChainClients({ rpcUrl, chainId: CHAIN_ID }, { timeoutMs: TIMEOUT_MS })
  return createHolderReader({ publicClient, contracts, store })
}

describe('holder routes and /operator/epochs with a chain node that does not answer (attack12d F3)', () => {
  for (const [name, path, headers] of [
    ['a holder in one pool', () => `/api/v1/holder/${HOLDER}/pools/${poolId}`, {}],
    ['a holder in every pool', () => `/api/v1/holder/${HOLDER}`, {}],
    ['the chain settings', () => '/api/v1/holder/chain', {}],
    [
      'the operator epochs (distributed state)',
      () => '/api/v1/operator/epochs',
      { 'x-api-key': STUB_KEY.key },
    ],
  ] as const) {
    it(`answers ${name} 503 UPSTREAM_UNAVAILABLE naming the chain, not 500`, async () => {
      const app = await appWith({ holders: holdersOn(frozen.url) })
      const response = await app.inject({ url: path(), headers })
      expect(response.statusCode, response.body).toBe(503)
      const { error } = response.json()
      expect(error.code).toBe('UPSTREAM_UNAVAILABLE')
      expect(error.message).toMatch(/chain/)
      await app.close()
    }, 15_000)
  }
})
