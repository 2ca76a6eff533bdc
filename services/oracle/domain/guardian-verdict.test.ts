import { describe, expect, it } from 'vitest'
import { buildDeviceTree, serializeTree } from '../../../core/merkle/index.ts'
import { encodeArchive } from './archive.ts'
import { runFleet } from './fleet-replay.fixture.ts'
import {
  type ArtifactRead,
  combineFastPath,
  GUARDIAN_REASONS,
  type GuardianVerdictInput,
  guardianVerdict,
  reasonCode,
  reasonFromCode,
} from './guardian-verdict.ts'
import { buildPoolEpoch, contentHash, isProblem, type PoolEpochBuild } from './pool-epoch.ts'
import type { Proposal } from './proposal.ts'

const { replay, registry } = runFleet({})
// A pool that earned in the epoch (the fleet starts at midnight: PV plants earn nothing).
const EPOCH = 0
const pool = replay.epochResults(EPOCH).find((r) => r.revenueUnits > 0n)?.poolId as string
const poolDeviceIds = new Set([...registry.values()].filter((d) => d.poolId === pool).map((d) => d.deviceId))
const built = buildPoolEpoch(
  pool,
  EPOCH,
  0,
  replay.epochResults(EPOCH),
  (d) => replay.paidReadings(EPOCH, d),
  replay,
)
if (isProblem(built)) throw new Error(built.detail)
const build: PoolEpochBuild = built
const bytes = (b: Uint8Array): ArtifactRead => ({ kind: 'bytes', bytes: b })

const input = (over: Partial<GuardianVerdictInput> = {}): GuardianVerdictInput => ({
  pending: build.proposal,
  own: { kind: 'built', build },
  tree: bytes(build.treeBytes),
  archive: bytes(build.archiveBytes),
  poolDeviceIds,
  ...over,
})

/** A forged, self-consistent pool epoch: its own leaves (one device paid 10× more), tree and archive. */
function forgery(): { proposal: Proposal; treeBytes: Uint8Array; archiveBytes: Uint8Array } {
  const leaves = build.leaves.map((l, i) => (i === 0 ? { ...l, revenueUnits: l.revenueUnits * 10n } : l))
  const tree = buildDeviceTree(leaves)
  const treeBytes = serializeTree(tree)
  const archiveBytes = encodeArchive(pool, EPOCH, [], [])
  return {
    proposal: {
      ...build.proposal,
      root: tree.root.toLowerCase() as Proposal['root'],
      revenueUnits: leaves.reduce((s, l) => s + l.revenueUnits, 0n),
      treeHash: contentHash(treeBytes),
      archiveHash: contentHash(archiveBytes),
    },
    treeBytes,
    archiveBytes,
  }
}

describe('guardianVerdict', () => {
  it('accepts the proposal a signer builds from the same replay, whatever the attempt', () => {
    expect(build.proposal.leafCount).toBeGreaterThan(0)
    const v = guardianVerdict(input({ pending: { ...build.proposal, attempt: 3 } }))
    expect(v).toMatchObject({ kind: 'accept', restore: [], artifacts: { tree: 'ok', archive: 'ok' } })
  })

  it('rejects a forged, self-consistent tree ROOT_MISMATCH although its artifacts back it', () => {
    const f = forgery()
    const v = guardianVerdict(
      input({ pending: f.proposal, tree: bytes(f.treeBytes), archive: bytes(f.archiveBytes) }),
    )
    expect(v.kind).toBe('reject')
    if (v.kind !== 'reject') return
    expect(v.reason).toBe('ROOT_MISMATCH')
    expect(v.artifacts.tree).toBe('ok')
    expect(v.recomputedRoot).toBe(build.proposal.root)
    expect(v.differences.map((d) => d.field)).toEqual(['root', 'revenueUnits', 'treeHash', 'archiveHash'])
  })

  it('rejects the true root with other totals TOTALS_MISMATCH, then other hashes by the hash', () => {
    const inflated = { ...build.proposal, revenueUnits: build.proposal.revenueUnits * 10n }
    expect(guardianVerdict(input({ pending: inflated }))).toMatchObject({
      kind: 'reject',
      reason: 'TOTALS_MISMATCH',
    })
    expect(guardianVerdict(input({ pending: { ...build.proposal, leafCount: 1 } }))).toMatchObject({
      reason: 'TOTALS_MISMATCH',
    })
    const otherTree = { ...build.proposal, treeHash: `0x${'22'.repeat(32)}` as const }
    expect(guardianVerdict(input({ pending: otherTree, tree: { kind: 'missing' } }))).toMatchObject({
      reason: 'TREE_HASH_MISMATCH',
      artifacts: { tree: 'missing' },
    })
    const otherArchive = { ...build.proposal, archiveHash: `0x${'33'.repeat(32)}` as const }
    expect(guardianVerdict(input({ pending: otherArchive, archive: { kind: 'missing' } }))).toMatchObject({
      reason: 'ARCHIVE_HASH_MISMATCH',
    })
  })

  it('accepts its own proposal with artifacts missing or altered in the store, and says to put them back', () => {
    const v = guardianVerdict(
      input({ tree: { kind: 'missing' }, archive: { kind: 'corrupt', detail: 'altered' } }),
    )
    expect(v).toMatchObject({ kind: 'accept', restore: ['tree', 'archive'] })
  })

  it('waits while the replay has records to read, and rejects an epoch telemetry.v1 has not closed', () => {
    expect(guardianVerdict(input({ own: { kind: 'behind', detail: 'reading' } }))).toMatchObject({
      kind: 'undecided',
      code: 'REPLAY_BEHIND',
    })
    expect(guardianVerdict(input({ own: { kind: 'not-closed', detail: 'short' } }))).toMatchObject({
      kind: 'reject',
      reason: 'EPOCH_NOT_CLOSED',
    })
  })

  it('without its own build, rejects missing or forged artifacts and leaves consistent ones undecided', () => {
    const own = { kind: 'problem', problem: { code: 'READINGS_MISMATCH', detail: 'x' } } as const
    expect(guardianVerdict(input({ own, archive: { kind: 'missing' } }))).toMatchObject({
      reason: 'ARTIFACT_MISSING',
    })
    const f = forgery()
    // The forged tree under the true proposal: its root is not the committed one.
    expect(guardianVerdict(input({ own, tree: bytes(f.treeBytes) }))).toMatchObject({
      kind: 'reject',
      reason: 'ARTIFACT_FORGED',
    })
    // A tree whose leaves do not sum to the committed revenue.
    const inflated = { ...build.proposal, revenueUnits: build.proposal.revenueUnits + 1n }
    const v = guardianVerdict(input({ own, pending: inflated }))
    expect(v).toMatchObject({ kind: 'reject', reason: 'ARTIFACT_FORGED' })
    expect(v.artifacts.tree).toContain('TOTALS_MISMATCH')
    expect(guardianVerdict(input({ own }))).toMatchObject({ kind: 'undecided', code: 'OWN_BUILD_FAILED' })
  })
})

describe('reasonCode', () => {
  it('is the ASCII code right-padded to bytes32, and reads back', () => {
    expect(reasonCode('ROOT_MISMATCH')).toBe(
      `0x${Buffer.from('ROOT_MISMATCH').toString('hex')}${'0'.repeat(64 - 26)}`,
    )
    for (const reason of Object.keys(GUARDIAN_REASONS) as (keyof typeof GUARDIAN_REASONS)[]) {
      expect(reasonCode(reason)).toHaveLength(66)
      expect(reasonFromCode(reasonCode(reason))).toBe(reason)
    }
  })
})

describe('the fast path against the replay', () => {
  const artifacts = {} as never
  const fast = {
    kind: 'reject',
    reason: 'ARCHIVE_AUDIT_FAILED',
    detail: 'device chg-000032, revenueUnits (LEAF_RECOMPUTED)',
    differences: [],
    artifacts,
  } as const
  const accept = { kind: 'accept', detail: 'the recomputed root', restore: [], artifacts } as const
  const behind = { kind: 'undecided', code: 'REPLAY_BEHIND', detail: 'replaying', artifacts } as const
  const replayRejects = { ...fast, reason: 'ROOT_MISMATCH', detail: 'another root' } as const

  it('rejects while the replay cannot judge (a restart) and when the replay rejects too', () => {
    expect(combineFastPath(fast, behind)).toEqual({ verdict: fast, auditDisagrees: false })
    expect(combineFastPath(fast, replayRejects)).toEqual({ verdict: fast, auditDisagrees: false })
  })

  it('does not reject a root the replay builds exactly: the audit is wrong, and says so', () => {
    expect(combineFastPath(fast, accept)).toEqual({ verdict: accept, auditDisagrees: true })
  })

  it('leaves the replay to decide when the fast path rejects nothing', () => {
    for (const v of [accept, behind, replayRejects])
      expect(combineFastPath(undefined, v)).toEqual({ verdict: v, auditDisagrees: false })
  })
})
