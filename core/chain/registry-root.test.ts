import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { describe, expect, it } from 'vitest'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { REGISTRY_LEAF_TYPES, registryCommitment, registryLeafValues } from './registry-root.ts'

describe('registryCommitment', () => {
  const devices = createFleet({
    seed: 'registry-root',
    chargers: 9,
    pv: 4,
    swap: 3,
    startMs: Date.parse('2026-06-01T00:00:00+08:00'),
    sampleMs: 300_000,
  }).registry().devices

  it("equals @openzeppelin/merkle-tree's StandardMerkleTree root, whatever the file order", () => {
    for (const poolId of [...new Set(devices.map((d) => d.poolId))]) {
      const mine = devices.filter((d) => d.poolId === poolId)
      const reference = StandardMerkleTree.of(mine.map(registryLeafValues), [...REGISTRY_LEAF_TYPES])
      expect(registryCommitment(devices, poolId)).toEqual({
        poolId,
        root: reference.root,
        deviceCount: mine.length,
      })
      expect(registryCommitment([...devices].reverse(), poolId).root).toBe(reference.root)
    }
  })

  it('commits a pool without devices as root 0 with count 0', () => {
    expect(registryCommitment(devices, 'no-such-pool')).toEqual({
      poolId: 'no-such-pool',
      root: `0x${'0'.repeat(64)}`,
      deviceCount: 0,
    })
  })
})
