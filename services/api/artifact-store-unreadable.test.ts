/**
 * An artifact store whose file cannot be read (a directory where the file belongs: EISDIR, as
 * EACCES or EIO would) is 503 ARTIFACT_STORE_UNREADABLE with the errno and a hint, on the
 * artifact route and the audit route, never 500, never the server's path, never the
 * "InfluxDB, Kafka or the chain" hint; a missing artifact stays 404 ARTIFACT_MISSING. The real
 * file store and audit reader, on a chain stand-in (test/api/auditor-chain.test.ts has anvil).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import type { FinalizedEpoch } from '../oracle/ports.ts'
import { createAuditReader } from './adapters/audit-reader.ts'
import { STUB_POOL, stubApp } from './testing/stub-app.ts'

const UNREADABLE = `0x${'cd'.repeat(32)}` as const
const ABSENT = `0x${'ef'.repeat(32)}` as const
const DEVICE = { deviceId: 'pv-0001', poolId: STUB_POOL, assetClass: 'pv' }

let dir: string
let app: FastifyInstance
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridroot-artifacts-'))
  const store = createFileArtifactStore({ dir })
  mkdirSync(store.pathOf(UNREADABLE), { recursive: true })
  const finalized = {
    root: `0x${'00'.repeat(32)}`,
    treeHash: UNREADABLE,
    archiveHash: UNREADABLE,
    revenueUnits: 0n,
    energyWh: 0n,
    leafCount: 1,
  } as unknown as FinalizedEpoch
  const auditor = createAuditReader({
    chain: {
      pool: async () => ({ firstEpoch: 0, nextEpoch: 3 }),
      epochRecord: async () => {
        throw new Error('not asked: the epoch is final')
      },
      finalized: async () => finalized,
      verifyDeviceLeaf: async () => true,
    },
    store,
    registry: {
      get: (id) => (id === DEVICE.deviceId ? (DEVICE as never) : undefined),
      devices: () => [DEVICE as never][Symbol.iterator](),
    },
    rules: {} as never,
    pools: [STUB_POOL],
  })
  app = await stubApp({ auditor })
})
afterAll(async () => {
  await app?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('artifact store read errors', () => {
  it('are 503 ARTIFACT_STORE_UNREADABLE with the errno and a hint, on the artifact and audit routes', async () => {
    for (const url of [
      `/api/v1/auditor/artifacts/${UNREADABLE}`,
      `/api/v1/auditor/pools/${STUB_POOL}/epochs/1/devices/${DEVICE.deviceId}`,
    ]) {
      const res = await app.inject({ url })
      expect(res.statusCode, res.body).toBe(503)
      const { error } = res.json()
      expect(error).toMatchObject({
        code: 'ARTIFACT_STORE_UNREADABLE',
        message: 'the artifact store could not be read (EISDIR)',
        details: { errno: 'EISDIR', retryAfterS: 30 },
      })
      expect(error.hint).toMatch(/GRIDROOT_ARTIFACT_DIR/)
      expect(res.body).not.toContain(dir)
      expect(res.headers['retry-after']).toBe('30')
    }
  })

  it('leave a missing artifact 404 ARTIFACT_MISSING', async () => {
    const res = await app.inject({ url: `/api/v1/auditor/artifacts/${ABSENT}` })
    expect(res.statusCode, res.body).toBe(404)
    expect(res.json().error.code).toBe('ARTIFACT_MISSING')
  })
})
