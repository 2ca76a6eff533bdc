/**
 * The auditor's artifact cache against a real file store: verify on kept artifacts gives the
 * very checks verify on the store's bytes gives, a kept file is not read again, a tampered or
 * mismatched file is detected on load and never kept, memory stays within its bytes, and final
 * commitments are read from the chain once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { indexRegistry } from '../../../core/identity/registry.ts'
import { type DeviceLeaf, deviceLeafHash, verifyProof } from '../../../core/merkle/index.ts'
import { createFileArtifactStore } from '../../../runtime/artifact-store.ts'
import { runFleet } from '../../oracle/domain/fleet-replay.fixture.ts'
import { buildPoolEpoch, isProblem, type PoolEpochBuild } from '../../oracle/domain/pool-epoch.ts'
import type { Hex } from '../../oracle/domain/proposal.ts'
import { verifyDeviceEpoch, verifyPreparedEpoch } from '../../oracle/domain/verify.ts'
import type { EpochRecord, FinalizedEpoch } from '../../oracle/ports.ts'
import { createArtifactCache } from './artifact-cache.ts'
import { createAuditReader } from './audit-reader.ts'

const { replay, registry } = runFleet({ duplicate: 0.05, reorder: 0.05 })

/** The device ids the registry puts in a pool (verify's COMMITMENT check). */
const poolDevices = (poolId: string) =>
  new Set([...registry.values()].filter((d) => d.poolId === poolId).map((d) => d.deviceId))
const epoch = 1
const results = replay.epochResults(epoch)
const pools = [...new Set(results.map((r) => r.poolId))].sort()
const build = (poolId: string): PoolEpochBuild => {
  const b = buildPoolEpoch(poolId, epoch, 0, results, (d) => replay.paidReadings(epoch, d), replay)
  if (isProblem(b)) throw new Error(b.detail)
  return b
}
const builds = pools.map(build)
const committed = (b: PoolEpochBuild): FinalizedEpoch => ({
  root: b.proposal.root,
  revenueUnits: b.proposal.revenueUnits,
  energyWh: b.proposal.energyWh,
  leafCount: b.proposal.leafCount,
  treeHash: b.proposal.treeHash,
  archiveHash: b.proposal.archiveHash,
})

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
async function storeOf(...all: PoolEpochBuild[]) {
  const dir = mkdtempSync(join(tmpdir(), 'gridroot-artifact-cache-'))
  dirs.push(dir)
  const files = createFileArtifactStore({ dir })
  for (const b of all) {
    await files.put(b.treeBytes)
    await files.put(b.archiveBytes)
  }
  let reads = 0
  return {
    files,
    store: {
      get: async (hash: Hex) => {
        reads++
        return files.get(hash)
      },
    },
    reads: () => reads,
  }
}

describe('artifact cache', () => {
  it('gives verify the same checks as the bytes, for every device of every pool, reading each file once', async () => {
    const s = await storeOf(...builds)
    const cache = createArtifactCache({ store: s.store })
    for (const b of builds) {
      for (const leaf of b.leaves) {
        const device = registry.get(leaf.deviceId)
        if (!device) throw new Error('not registered')
        const loaded = await cache.load(b.proposal.treeHash, b.proposal.archiveHash)
        if (loaded.status !== 'loaded') throw new Error(loaded.status)
        const args = {
          poolId: b.proposal.poolId,
          epoch,
          deviceId: leaf.deviceId,
          finalized: committed(b),
          device,
          poolDeviceIds: poolDevices(device.poolId),
          rules: replay,
        }
        const kept = verifyPreparedEpoch({ ...args, artifacts: loaded.artifacts })
        const fromBytes = verifyDeviceEpoch({ ...args, treeBytes: b.treeBytes, archiveBytes: b.archiveBytes })
        expect(kept).toEqual(fromBytes)
        expect(kept.ok).toBe(true)
      }
    }
    expect(s.reads()).toBe(2 * builds.length)
    expect(cache.stats().entries).toBe(2 * builds.length)
  })

  it('passes a wrong committed hash, a foreign leaf and an archive of another pool through to the same failed checks', async () => {
    const [a, b] = builds as [PoolEpochBuild, PoolEpochBuild]
    const s = await storeOf(a, b)
    const cache = createArtifactCache({ store: s.store })
    const leaf = a.leaves[0]
    const device = leaf && registry.get(leaf.deviceId)
    if (!leaf || !device) throw new Error('no leaf')
    // a's tree with b's archive: ARCHIVE_SCOPE fails, as from bytes.
    const mixed = { ...committed(a), archiveHash: b.proposal.archiveHash }
    const loaded = await cache.load(mixed.treeHash, mixed.archiveHash)
    if (loaded.status !== 'loaded') throw new Error(loaded.status)
    const args = {
      poolId: a.proposal.poolId,
      epoch,
      deviceId: leaf.deviceId,
      finalized: mixed,
      device,
      poolDeviceIds: poolDevices(device.poolId),
      rules: replay,
    }
    const kept = verifyPreparedEpoch({ ...args, artifacts: loaded.artifacts })
    expect(kept).toEqual(verifyDeviceEpoch({ ...args, treeBytes: a.treeBytes, archiveBytes: b.archiveBytes }))
    expect(kept.checks.at(-1)).toMatchObject({ check: 'ARCHIVE_SCOPE', ok: false })
  })

  it('detects a tampered file when it loads, keeps nothing of it, and loads the restored file', async () => {
    const b = builds[0] as PoolEpochBuild
    const s = await storeOf(b)
    const path = s.files.pathOf(b.proposal.archiveHash)
    const tampered = Buffer.from(b.archiveBytes)
    tampered.writeUInt8((tampered.at(-3) ?? 0) ^ 1, tampered.length - 3)
    writeFileSync(path, tampered)
    const cache = createArtifactCache({ store: s.store })
    const first = await cache.load(b.proposal.treeHash, b.proposal.archiveHash)
    expect(first).toMatchObject({ status: 'artifact-corrupt' })
    expect((first as { detail: string }).detail).toMatch(/hashes to/)
    const again = await cache.load(b.proposal.treeHash, b.proposal.archiveHash)
    expect(again.status).toBe('artifact-corrupt')
    writeFileSync(path, b.archiveBytes)
    expect((await cache.load(b.proposal.treeHash, b.proposal.archiveHash)).status).toBe('loaded')
    // Kept: altering the file now changes no audit (the kept copy is the committed content),
    // while the store, which the artifact route reads, still refuses the altered file.
    writeFileSync(path, tampered)
    const reads = s.reads()
    expect((await cache.load(b.proposal.treeHash, b.proposal.archiveHash)).status).toBe('loaded')
    expect(s.reads()).toBe(reads)
    await expect(s.files.get(b.proposal.archiveHash)).rejects.toThrow(/hashes to/)
  })

  it('loads a kept file again once the store says it was rewritten, and so refuses it', async () => {
    const b = builds[0] as PoolEpochBuild
    const s = await storeOf(b)
    const cache = createArtifactCache({ store: { get: s.store.get, stamp: (h: Hex) => s.files.stamp(h) } })
    expect((await cache.load(b.proposal.treeHash, b.proposal.archiveHash)).status).toBe('loaded')
    const reads = s.reads()
    expect((await cache.load(b.proposal.treeHash, b.proposal.archiveHash)).status).toBe('loaded')
    expect(s.reads()).toBe(reads)
    const path = s.files.pathOf(b.proposal.treeHash)
    const tampered = Buffer.from(b.treeBytes)
    tampered.writeUInt8((tampered.at(-3) ?? 0) ^ 1, tampered.length - 3)
    writeFileSync(path, tampered)
    expect((await cache.load(b.proposal.treeHash, b.proposal.archiveHash)).status).toBe('artifact-corrupt')
    expect(cache.stats().entries).toBe(1)
    writeFileSync(path, b.treeBytes)
    expect((await cache.load(b.proposal.treeHash, b.proposal.archiveHash)).status).toBe('loaded')
    rmSync(path)
    expect((await cache.load(b.proposal.treeHash, b.proposal.archiveHash)).status).toBe('artifact-missing')
  })

  it('never keeps bytes that do not hash to their name (a store that does not check): verify fails TREE_HASH', async () => {
    const [a, b] = builds as [PoolEpochBuild, PoolEpochBuild]
    let reads = 0
    const lying = {
      get: async (hash: Hex) => {
        reads++
        return hash === a.proposal.treeHash
          ? b.treeBytes
          : hash === a.proposal.archiveHash
            ? a.archiveBytes
            : undefined
      },
    }
    const cache = createArtifactCache({ store: lying })
    const leaf = a.leaves[0]
    const device = leaf && registry.get(leaf.deviceId)
    if (!leaf || !device) throw new Error('no leaf')
    for (let i = 0; i < 2; i++) {
      const loaded = await cache.load(a.proposal.treeHash, a.proposal.archiveHash)
      if (loaded.status !== 'loaded') throw new Error(loaded.status)
      const result = verifyPreparedEpoch({
        poolId: a.proposal.poolId,
        epoch,
        deviceId: leaf.deviceId,
        finalized: committed(a),
        device,
        poolDeviceIds: poolDevices(device.poolId),
        rules: replay,
        artifacts: loaded.artifacts,
      })
      expect(result.checks).toEqual([expect.objectContaining({ check: 'TREE_HASH', ok: false })])
    }
    // The tree was read both times; the archive (honest) only once.
    expect(reads).toBe(3)
    expect((await cache.load(a.proposal.treeHash, '0x'.padEnd(66, '0') as Hex)).status).toBe(
      'artifact-missing',
    )
  })

  it('stays within its bytes, least recently used out first, and keeps nothing larger than all of it', async () => {
    const s = await storeOf(...builds)
    const [a, b] = builds as [PoolEpochBuild, PoolEpochBuild]
    const sizeOf = (x: PoolEpochBuild) => x.treeBytes.length + x.archiveBytes.length
    const cache = createArtifactCache({ store: s.store, maxBytes: Math.max(sizeOf(a), sizeOf(b)) + 10 })
    await cache.load(a.proposal.treeHash, a.proposal.archiveHash)
    await cache.load(b.proposal.treeHash, b.proposal.archiveHash)
    expect(cache.stats().bytes).toBeLessThanOrEqual(cache.stats().maxBytes)
    const reads = s.reads()
    await cache.load(b.proposal.treeHash, b.proposal.archiveHash)
    expect(s.reads()).toBe(reads)
    await cache.load(a.proposal.treeHash, a.proposal.archiveHash)
    expect(s.reads()).toBeGreaterThan(reads)

    const tiny = createArtifactCache({ store: s.store, maxBytes: 10 })
    await tiny.load(a.proposal.treeHash, a.proposal.archiveHash)
    expect(tiny.stats()).toMatchObject({ entries: 0, bytes: 0 })
    const none = createArtifactCache({ store: s.store, maxBytes: 0 })
    expect((await none.load(a.proposal.treeHash, a.proposal.archiveHash)).status).toBe('loaded')
    expect(none.stats().entries).toBe(0)
  })

  it('shares one load among concurrent audits of a file not kept yet', async () => {
    const b = builds[0] as PoolEpochBuild
    const s = await storeOf(b)
    const cache = createArtifactCache({ store: s.store })
    const all = await Promise.all(
      Array.from({ length: 5 }, () => cache.load(b.proposal.treeHash, b.proposal.archiveHash)),
    )
    expect(all.every((l) => l.status === 'loaded')).toBe(true)
    expect(s.reads()).toBe(2)
  })
})

describe('audit reader', () => {
  it('reads a final commitment from the chain once, and asks again for an epoch not final yet', async () => {
    const b = builds[0] as PoolEpochBuild
    const s = await storeOf(b)
    const calls = { finalized: 0 }
    let final = false
    const record: EpochRecord = {
      status: 'pending',
      attempt: 0,
      root: b.proposal.root,
      finalizesAtSec: 0n,
    } as unknown as EpochRecord
    const reader = createAuditReader({
      chain: {
        pool: async () => ({ firstEpoch: 0, nextEpoch: 2 }),
        epochRecord: async () => record,
        finalized: async () => {
          calls.finalized++
          return final ? committed(b) : undefined
        },
        // What RevenueOracle.verifyDeviceLeaf computes, against the finalized root.
        verifyDeviceLeaf: async (leaf: DeviceLeaf, proof: readonly Hex[]) =>
          verifyProof(committed(b).root, deviceLeafHash(leaf), proof),
      } as never,
      store: s.store,
      registry: indexRegistry([...registry.values()]),
      rules: replay,
      pools,
    })
    const deviceId = b.leaves[0]?.deviceId as string
    const args = { poolId: b.proposal.poolId, epoch, deviceId }
    expect((await reader.audit(args)).outcome.status).toBe('not-final')
    expect((await reader.audit(args)).outcome.status).toBe('not-final')
    expect(calls.finalized).toBe(2)
    final = true
    for (let i = 0; i < 3; i++) {
      const audit = await reader.audit(args)
      expect(audit.outcome.ok).toBe(true)
      expect(audit.readings?.length).toBe(b.leaves[0]?.readings)
    }
    expect(calls.finalized).toBe(3)
    expect(s.reads()).toBe(2)
  })
})
