/**
 * Auditor routes on a real anvil of this test's own (challenge windows are passed by moving
 * chain time) with real published artifacts: a replayed fleet's pool epochs are built as the
 * oracle builds them (buildPoolEpoch), their tree and archive stored, and their proposals
 * finalized in RevenueOracle. Then every route's success and error paths, hostile parameters
 * included: the audit of a device verifies against the chain, a device left out of a tree, an
 * epoch pending, rejected or never proposed, artifacts missing or altered in the store.
 */
import { mkdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { deviceLeafHash, verifyProof } from '../../core/merkle/index.ts'
import { createAuditReader } from '../../services/api/adapters/audit-reader.ts'
import type { PoolEpochBuild } from '../../services/oracle/domain/pool-epoch.ts'
import { VERIFY_CHECKS } from '../../services/oracle/domain/verify.ts'
import { type FixtureApp, fixtureApp } from './app-harness.ts'
import { type AuditChain, auditDevicesOf, startAuditChain } from './audit-chain.ts'
import { dropFixture, type Fixture, writeFixture } from './fixture.ts'

const endpoints = inject('endpoints')
const name = `apiaudit_${process.pid}_${Date.now().toString(36)}`
const POOL = 'gcl-pv'
const OTHER = 'longshine-ev'

let audit: AuditChain
let fixture: Fixture
let api: FixtureApp
let limited: FixtureApp
const devicesOf = auditDevicesOf
const [DEVICE, LEFT_OUT] = devicesOf(POOL) as [string, string]
const OTHER_DEVICE = devicesOf(OTHER)[0] as string
let replay: AuditChain['replay']
let store: AuditChain['store']
/** POOL epochs 0 (without LEFT_OUT) and 1, final; epoch 2 pending. OTHER 0 final, artifacts not stored; 1 rejected. */
let built: AuditChain['built']

beforeAll(async () => {
  audit = await startAuditChain('api-auditor', [
    { poolId: POOL, epoch: 0, state: 'final', leaveOut: LEFT_OUT },
    { poolId: POOL, epoch: 1, state: 'final' },
    { poolId: OTHER, epoch: 0, state: 'final', stored: false },
    // POOL epoch 2 pending; OTHER epoch 1 rejected by the guardian.
    { poolId: POOL, epoch: 2, state: 'pending' },
    { poolId: OTHER, epoch: 1, state: 'rejected' },
  ])
  ;({ replay, store, built } = audit)

  fixture = await writeFixture(endpoints, name)
  const auditor = createAuditReader({
    chain: audit.chain,
    store,
    registry: audit.registry,
    rules: audit.replay,
    // A pool the contracts file names but RevenueOracle never added.
    pools: [POOL, OTHER, 'xunying-swap'],
  })
  api = await fixtureApp(endpoints, fixture, { auditor, registry: audit.registry })
  limited = await fixtureApp(endpoints, fixture, {
    auditor,
    registry: audit.registry,
    dlq: api.dlq,
    rateLimitMax: 3,
  })
}, 180_000)

afterAll(async () => {
  await limited?.close()
  await api?.close()
  if (fixture) await dropFixture(fixture)
  await audit?.stop()
})

const get = (url: string, app = api) => app.app.inject({ method: 'GET', url })
const A = '/api/v1/auditor'
const auditUrl = (poolId: string, epoch: number | string, deviceId: string) =>
  `${A}/pools/${poolId}/epochs/${epoch}/devices/${deviceId}`
const expectError = async (url: string, status: number, code: string) => {
  const res = await get(url)
  expect(res.statusCode, `${url}: ${res.body}`).toBe(status)
  const body = res.json()
  expect(body.error.code, url).toBe(code)
  expect(body.error.hint.length).toBeGreaterThan(10)
  return body.error
}

describe('auditor routes on a real RevenueOracle', () => {
  it('lists the pools RevenueOracle knows, with their epochs and devices', async () => {
    const res = await get(`${A}/pools`)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual({
      pools: [
        { poolId: POOL, firstEpoch: 0, nextEpoch: 2, devices: 3 },
        { poolId: OTHER, firstEpoch: 0, nextEpoch: 1, devices: 3 },
      ],
    })
    const pool = await get(`${A}/pools/${POOL}`)
    expect(pool.statusCode, pool.body).toBe(200)
    expect(pool.json()).toMatchObject({ poolId: POOL, firstEpoch: 0, nextEpoch: 2 })
    expect(pool.json().epochs.map((e: { epoch: number; status: string }) => [e.epoch, e.status])).toEqual([
      [2, 'pending'],
      [1, 'final'],
      [0, 'final'],
    ])
    expect(pool.json().epochs[1].root).toBe(built.get(`${POOL}/1`)?.proposal.root)
    const one = await get(`${A}/pools/${POOL}?limit=1`)
    expect(one.json().epochs).toHaveLength(1)
    const devices = await get(`${A}/pools/${POOL}/devices?limit=2`)
    expect(devices.statusCode, devices.body).toBe(200)
    expect(devices.json()).toEqual({
      poolId: POOL,
      total: 3,
      devices: devicesOf(POOL)
        .sort()
        .slice(0, 2)
        .map((deviceId) => ({ deviceId, assetClass: 'pv' })),
    })
  })

  it("verifies a device's leaf, proof and readings against the chain, and links the artifacts", async () => {
    const b = built.get(`${POOL}/1`) as PoolEpochBuild
    const res = await get(auditUrl(POOL, 1, DEVICE))
    expect(res.statusCode, res.body).toBe(200)
    const audit = res.json()
    expect(audit.verified).toBe(true)
    expect(audit.checks.map((c: { check: string; ok: boolean }) => `${c.check}:${c.ok}`)).toEqual(
      VERIFY_CHECKS.map((c) => `${c}:true`),
    )
    expect(audit.chain).toEqual({
      root: b.proposal.root,
      revenueUnits: b.proposal.revenueUnits.toString(),
      energyWh: b.proposal.energyWh.toString(),
      leafCount: b.proposal.leafCount,
      treeHash: b.proposal.treeHash,
      archiveHash: b.proposal.archiveHash,
    })
    const leaf = b.leaves.find((l) => l.deviceId === DEVICE)
    if (!leaf) throw new Error('no leaf built')
    expect(audit.leaf).toEqual({
      energyWh: String(leaf.energyWh),
      revenueUnits: leaf.revenueUnits.toString(),
      readings: leaf.readings,
      readingsDigest: leaf.readingsDigest,
    })
    // The proof checks out with OpenZeppelin's own tree and with MerkleProof semantics.
    expect(audit.leafHash).toBe(deviceLeafHash(leaf))
    expect(verifyProof(audit.chain.root, audit.leafHash, audit.proof)).toBe(true)
    const oz = StandardMerkleTree.load(JSON.parse(Buffer.from(b.treeBytes).toString()))
    const [, value] = [...oz.entries()].find(([, v]) => v[2] === DEVICE) ?? []
    expect(oz.verify(value as unknown[], audit.proof)).toBe(true)
    // The readings are the ones the leaf pays for, in (boot, seq) order within the epoch.
    expect(audit.readings).toHaveLength(leaf.readings)
    const paid = replay.paidReadings(1, DEVICE)
    expect(audit.readings.map((r: { seq: number }) => r.seq).sort((x: number, y: number) => x - y)).toEqual(
      paid.map((p) => p.seq).sort((x, y) => x - y),
    )
    expect(audit.recomputed).toEqual({ readingsDigest: leaf.readingsDigest, readings: leaf.readings })

    // Each artifact link serves the exact bytes the chain committed.
    for (const [link, bytes] of [
      [audit.artifacts.tree, b.treeBytes],
      [audit.artifacts.archive, b.archiveBytes],
    ] as const) {
      const served = await get(link.url)
      expect(served.statusCode, served.body.slice(0, 300)).toBe(200)
      expect(served.headers['content-type']).toMatch(/^application\/json/)
      expect(Buffer.compare(served.rawPayload, Buffer.from(bytes))).toBe(0)
    }
    // Upper-case hex is the same hash.
    const upper = await get(`${A}/artifacts/0x${b.proposal.treeHash.slice(2).toUpperCase()}`)
    expect(upper.statusCode).toBe(200)
  })

  it('refuses a device without a leaf, epochs not final or never proposed, and artifacts the store lacks', async () => {
    // Without a leaf and without archived records: idle, verified (attack10a F3; was DEVICE_NOT_IN_TREE).
    const idle = await get(auditUrl(POOL, 0, LEFT_OUT))
    expect(idle.statusCode, idle.body.slice(0, 300)).toBe(200)
    expect(idle.json()).toMatchObject({ verified: true, leaf: null })
    expect(idle.json().checks.at(-1)).toMatchObject({ check: 'LEAF_MISSING', ok: true })
    expect(idle.json().checks.at(-1).detail).toMatch(/^idle: nothing earned, nothing owed/)
    // The device is in epoch 1's tree.
    expect((await get(auditUrl(POOL, 1, LEFT_OUT))).statusCode).toBe(200)
    const pending = await expectError(auditUrl(POOL, 2, DEVICE), 409, 'EPOCH_NOT_FINAL')
    expect(pending.details.status).toBe('pending')
    expect(pending.details.finalizesAtMs).toBeGreaterThan(0)
    const rejected = await expectError(auditUrl(OTHER, 1, OTHER_DEVICE), 409, 'EPOCH_NOT_FINAL')
    expect(rejected.details).toMatchObject({ status: 'rejected', attempt: 1 })
    const unknown = await expectError(auditUrl(POOL, 3, DEVICE), 404, 'UNKNOWN_EPOCH')
    expect(unknown.details).toEqual({ firstEpoch: 0, nextEpoch: 2 })
    // An epoch that starts after 2100-01-01 cannot exist: refused before the chain is asked.
    const future = await expectError(
      auditUrl(POOL, Number.MAX_SAFE_INTEGER, DEVICE),
      400,
      'INVALID_PARAMETER',
    )
    expect(future.details).toMatchObject({ parameter: 'epoch' })
    const missing = await expectError(auditUrl(OTHER, 0, OTHER_DEVICE), 503, 'ARTIFACT_UNAVAILABLE')
    expect(missing.details.hash).toBe(built.get(`${OTHER}/0`)?.proposal.treeHash)
    await expectError(
      `${A}/artifacts/${built.get(`${OTHER}/0`)?.proposal.archiveHash}`,
      404,
      'ARTIFACT_MISSING',
    )
    await expectError(`${A}/artifacts/0x${'00'.repeat(32)}`, 404, 'ARTIFACT_MISSING')
  })

  it('never serves an artifact altered in the store: the audit and the artifact route say ARTIFACT_CORRUPT', async () => {
    const b = built.get(`${POOL}/1`) as PoolEpochBuild
    for (const hash of [b.proposal.treeHash, b.proposal.archiveHash]) {
      const path = store.pathOf(hash)
      const original = readFileSync(path)
      const tampered = Buffer.from(original)
      tampered[tampered.length - 3] = tampered[tampered.length - 3] === 0x30 ? 0x31 : 0x30
      writeFileSync(path, tampered)
      try {
        await expectError(auditUrl(POOL, 1, DEVICE), 503, 'ARTIFACT_CORRUPT')
        await expectError(`${A}/artifacts/${hash}`, 503, 'ARTIFACT_CORRUPT')
      } finally {
        writeFileSync(path, original)
      }
    }
    expect((await get(auditUrl(POOL, 1, DEVICE))).json().verified).toBe(true)
  })

  it('says the store could not be read (503 ARTIFACT_STORE_UNREADABLE), not 500 nor missing, when reading a file fails', async () => {
    const b = built.get(`${POOL}/1`) as PoolEpochBuild
    for (const hash of [b.proposal.treeHash, b.proposal.archiveHash]) {
      // A directory where the file belongs: reading it fails with EISDIR (as EACCES or EIO would).
      const path = store.pathOf(hash)
      renameSync(path, `${path}.away`)
      mkdirSync(path)
      try {
        for (const url of [auditUrl(POOL, 1, DEVICE), `${A}/artifacts/${hash}`]) {
          const res = await get(url)
          expect(res.statusCode, `${url}: ${res.body}`).toBe(503)
          const { error } = res.json()
          expect(error).toMatchObject({
            code: 'ARTIFACT_STORE_UNREADABLE',
            message: 'the artifact store could not be read (EISDIR)',
            details: { errno: 'EISDIR', retryAfterS: 30 },
          })
          expect(error.hint).toMatch(/GRIDROOT_ARTIFACT_DIR/)
          expect(res.body).not.toContain(path)
          expect(res.headers['retry-after']).toBe('30')
        }
      } finally {
        rmdirSync(path)
        renameSync(`${path}.away`, path)
      }
    }
    expect((await get(auditUrl(POOL, 1, DEVICE))).json().verified).toBe(true)
  })

  it('refuses unknown pools and devices, and a device audited in a pool not its own', async () => {
    await expectError(`${A}/pools/no-such-pool`, 404, 'UNKNOWN_AUDIT_POOL')
    await expectError(`${A}/pools/xunying-swap`, 404, 'UNKNOWN_AUDIT_POOL')
    await expectError(`${A}/pools/no-such-pool/devices`, 404, 'UNKNOWN_AUDIT_POOL')
    await expectError(auditUrl('no-such-pool', 1, DEVICE), 404, 'UNKNOWN_AUDIT_POOL')
    await expectError(auditUrl(POOL, 1, 'pv-nobody'), 404, 'UNKNOWN_AUDIT_DEVICE')
    const foreign = await expectError(auditUrl(POOL, 1, OTHER_DEVICE), 404, 'UNKNOWN_AUDIT_DEVICE')
    expect(foreign.details).toEqual({ poolId: OTHER })
  })

  it('refuses hostile parameters before anything is read: ids, epochs, hashes, paths', async () => {
    const hostile: [string, number, string][] = [
      [auditUrl(POOL, -1, DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, 1.5, DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, 'abc', DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, '1e400', DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, '0x1', DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, '%201', DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, '01', DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, '9007199254740992', DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, '18446744073709551616', DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, 1, '..%2F..%2Fetc%2Fpasswd'), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, 1, `${DEVICE}%00`), 400, 'INVALID_PARAMETER'],
      [auditUrl('GCL-PV', 1, DEVICE), 400, 'INVALID_PARAMETER'],
      [auditUrl(POOL, 1, 'x'.repeat(65)), 400, 'INVALID_PARAMETER'],
      [`${A}/pools/${POOL}?limit=0`, 400, 'INVALID_PARAMETER'],
      [`${A}/pools/${POOL}?limit=101`, 400, 'INVALID_PARAMETER'],
      [`${A}/pools/${POOL}?fromEpoch=0`, 400, 'INVALID_PARAMETER'],
      [`${A}/pools?x=1`, 400, 'INVALID_PARAMETER'],
      [`${auditUrl(POOL, 1, DEVICE)}?verify=false`, 400, 'INVALID_PARAMETER'],
      [`${A}/pools/${POOL}/devices?offset=-1`, 400, 'INVALID_PARAMETER'],
      [`${A}/pools/${POOL}/devices?limit=100000`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/${'ab'.repeat(32)}`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/0x${'ab'.repeat(31)}`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/0x${'ab'.repeat(33)}`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/0x${'gg'.repeat(32)}`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/0x${'ab'.repeat(31)}%2F..`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/..%2F..%2F..%2Fetc%2Fpasswd`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/%2e%2e%2f%2e%2e%2fregistry.json`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/0x${'ab'.repeat(32)}%20`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/0x${'ab'.repeat(32)}?x=1`, 400, 'INVALID_PARAMETER'],
      [`${A}/artifacts/../../../etc/passwd`, 404, 'NOT_FOUND'],
      [`${A}/artifacts/`, 400, 'INVALID_PARAMETER'],
    ]
    for (const [url, status, code] of hostile) await expectError(url, status, code)
  })

  it('needs no key, documents every route, and rate-limits per address like the other public routes', async () => {
    const doc = (await get('/docs/json')).json()
    for (const path of [
      '/api/v1/auditor/pools',
      '/api/v1/auditor/pools/{poolId}',
      '/api/v1/auditor/pools/{poolId}/devices',
      '/api/v1/auditor/pools/{poolId}/epochs/{epoch}/devices/{deviceId}',
      '/api/v1/auditor/artifacts/{hash}',
    ])
      expect(doc.paths[path]?.get?.tags, path).toEqual(['auditor'])
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push((await get(`${A}/pools/${POOL}/devices`, limited)).statusCode)
    expect(statuses).toEqual([200, 200, 200, 429])
    const refused = await get(`${A}/artifacts/0x${'00'.repeat(32)}`, limited)
    expect(refused.statusCode).toBe(429)
    expect(refused.json().error.code).toBe('RATE_LIMITED')
  })
})
