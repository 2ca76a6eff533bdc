import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildDeviceTree, serializeTree } from '../../../core/merkle/index.ts'
import { genuineFleet, pvDevices, writeTariffBook } from '../../../test/distributor/support/genuine-epochs.ts'
import { PaidLedger, paidReadingsOf } from '../../distributor/domain/paid-ledger.ts'
import { verifyRulesFromEnv } from '../config.ts'
import { decodeArchive } from './archive.ts'
import { type FastPathInput, fastPathVerdict } from './guardian-fast-path.ts'
import type { ArtifactRead } from './guardian-verdict.ts'
import type { LeafRules } from './leaf-recompute.ts'
import { contentHash, type PoolEpochBuild } from './pool-epoch.ts'
import type { Proposal } from './proposal.ts'

// The distributor test's pool (test/distributor/distributor.test.ts): two PV plants, 100 s
// epochs of 10 s intervals by day, a 20 s grace, one price per epoch.
const POOL = 'gf-pool'
const WINDOW_MS = 100_000
const GENESIS_MS = Date.parse('2026-06-01T10:00:00+08:00')
const grid = { genesisMs: GENESIS_MS, epochLengthMs: WINDOW_MS, intervalMs: 10_000 }
const DEVICES = pvDevices(POOL, 'gf', 2)
const devices = new Map(DEVICES.map((d) => [d.deviceId, d]))
const whPerInterval = new Map([
  ['gf-000001', 75],
  ['gf-000002', 25],
])

let dir: string
let rules: LeafRules
/** Epochs 0-3 as the honest signers build them. */
let genuine: PoolEpochBuild[]
/** The pool's ledger through the final epochs 0-2. */
let ledger: PaidLedger

const bytes = (b: Uint8Array): ArtifactRead => ({ kind: 'bytes', bytes: b })
const input = (built: PoolEpochBuild, over: Partial<FastPathInput> = {}): FastPathInput => ({
  pending: built.proposal,
  tree: bytes(built.treeBytes),
  archive: bytes(built.archiveBytes),
  devices,
  rules,
  ...over,
})

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gridroot-fast-path-'))
  const tariffsFile = join(dir, 'tariffs.json')
  writeTariffBook(tariffsFile, grid, [1_000_000n, 2_000_000n, 0n, 1_000_000n])
  rules = await verifyRulesFromEnv({
    GRIDROOT_TARIFFS_FILE: tariffsFile,
    GRIDROOT_EPOCH_GENESIS: new Date(GENESIS_MS).toISOString(),
    GRIDROOT_EPOCH_LENGTH: `${WINDOW_MS / 1000}s`,
    GRIDROOT_INTERVAL: '10s',
    GRIDROOT_AGG_GRACE: '20s',
    // Read by the aggregator's configuration only; the rules do not need the registry.
    GRIDROOT_REGISTRY_FILE: join(dir, 'registry.json'),
  })
  const fleet = genuineFleet({ devices: DEVICES, whPerInterval, grid, rules, epochs: 4 })
  genuine = [0, 1, 2, 3].map((e) => fleet.build(POOL, e))
  ledger = new PaidLedger(0)
  for (const built of genuine.slice(0, 3))
    ledger.add(built.proposal.epoch, paidReadingsOf(decodeArchive(built.archiveBytes)))
})

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('the guardian fast path (no replay)', () => {
  it('does not reject a genuine proposal: its tree, archive and paid readings hold', () => {
    const built = genuine[3] as PoolEpochBuild
    expect(built.proposal.revenueUnits).toBeGreaterThan(0n)
    const result = fastPathVerdict(input(built), ledger, 0)
    expect(result, result.detail).toMatchObject({ kind: 'passed' })
    expect(result.detail).toContain('none paid by epochs 0-2')
    // The first epoch, with nothing before it.
    expect(fastPathVerdict(input(genuine[0] as PoolEpochBuild), new PaidLedger(0), 0)).toMatchObject({
      kind: 'passed',
    })
  })

  it('rejects an epoch re-booking readings earlier epochs paid READING_PAID_TWICE (attack10 F2)', () => {
    // dr-000001's readings withheld to the middle of epoch 3 are late adjustments of epoch 3:
    // every leaf recomputes exactly from the archive, only the ledger tells.
    const forgery = genuineFleet({
      devices: DEVICES,
      whPerInterval,
      grid,
      rules,
      epochs: 4,
      late: { deviceId: 'gf-000001', untilMs: GENESIS_MS + 3.5 * WINDOW_MS },
    }).build(POOL, 3)
    expect(forgery.proposal.revenueUnits).toBeGreaterThan(
      (genuine[3] as PoolEpochBuild).proposal.revenueUnits,
    )
    const result = fastPathVerdict(input(forgery), ledger, 0)
    expect(result).toMatchObject({ kind: 'reject', reason: 'READING_PAID_TWICE' })
    expect(result.detail).toContain(
      "pays device gf-000001's reading boot 0 seq 1, which epoch 0 paid already",
    )
  })

  it('rejects an archive signed with keys that are not the devices’ ARCHIVE_AUDIT_FAILED (attack F1)', () => {
    const forgery = genuineFleet({
      devices: DEVICES,
      whPerInterval,
      grid,
      rules,
      epochs: 4,
      signingSeed: 'a forger',
    }).build(POOL, 3)
    const result = fastPathVerdict(input(forgery), ledger, 0)
    expect(result).toMatchObject({ kind: 'reject', reason: 'ARCHIVE_AUDIT_FAILED' })
    expect(result.detail).toContain('signature (SIGNATURES)')
  })

  it('rejects a self-consistent tree the archive does not back ARCHIVE_AUDIT_FAILED', () => {
    // test/oracle/guardian.test.ts's forgery: every leaf paying 10× with an empty archive, or
    // the genuine archive under leaves paying 10×.
    const built = genuine[3] as PoolEpochBuild
    const leaves = built.leaves.map((l) => ({ ...l, revenueUnits: l.revenueUnits * 10n }))
    const tree = buildDeviceTree(leaves)
    const treeBytes = serializeTree(tree)
    const pending: Proposal = {
      ...built.proposal,
      root: tree.root.toLowerCase() as Proposal['root'],
      revenueUnits: leaves.reduce((s, l) => s + l.revenueUnits, 0n),
      treeHash: contentHash(treeBytes),
    }
    const result = fastPathVerdict(input(built, { pending, tree: bytes(treeBytes) }), ledger, 0)
    expect(result).toMatchObject({ kind: 'reject', reason: 'ARCHIVE_AUDIT_FAILED' })
    expect(result.detail).toContain('revenueUnits')
  })

  it('rejects a tree that does not back the proposal ARTIFACT_FORGED', () => {
    const built = genuine[3] as PoolEpochBuild
    const inflated = { ...built.proposal, revenueUnits: built.proposal.revenueUnits * 10n }
    const result = fastPathVerdict(input(built, { pending: inflated }), ledger, 0)
    expect(result).toMatchObject({ kind: 'reject', reason: 'ARTIFACT_FORGED' })
    expect(result.detail).toContain('TOTALS_MISMATCH')
    // Another epoch's archive under this epoch's hash.
    const other = genuine[2] as PoolEpochBuild
    const scoped = { ...built.proposal, archiveHash: other.proposal.archiveHash }
    expect(
      fastPathVerdict(input(built, { pending: scoped, archive: bytes(other.archiveBytes) }), ledger, 0),
    ).toMatchObject({ kind: 'reject', reason: 'ARTIFACT_FORGED' })
  })

  it('decides nothing while a committed artifact is missing or altered in the store', () => {
    const built = genuine[3] as PoolEpochBuild
    expect(fastPathVerdict(input(built, { archive: { kind: 'missing' } }), ledger, 0)).toMatchObject({
      kind: 'missing',
    })
    expect(
      fastPathVerdict(input(built, { tree: { kind: 'corrupt', detail: 'hashes to 0x00' } }), ledger, 0),
    ).toMatchObject({ kind: 'missing' })
  })
})
