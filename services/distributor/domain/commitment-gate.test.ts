import { describe, expect, it } from 'vitest'
import { buildDeviceTree, type DeviceLeaf, serializeTree } from '../../../core/merkle/index.ts'
import type { OracleCommitment } from '../ports.ts'
import { artifactWait, commitmentGate } from './commitment-gate.ts'

const leaf = (deviceId: string, revenueUnits: bigint): DeviceLeaf => ({
  poolId: 'gcl-pv',
  epoch: 70,
  deviceId,
  energyWh: 1_000n,
  revenueUnits,
  readings: 12,
  readingsDigest: `0x${'11'.repeat(32)}`,
})
const leaves = [leaf('pv-000001', 2_000_000n), leaf('pv-000002', 1_049_000n)]
const tree = buildDeviceTree(leaves)
const bytes = serializeTree(tree)
const honest: OracleCommitment = {
  epoch: 70,
  attempt: 0,
  root: tree.root,
  revenueUnits: 3_049_000n,
  energyWh: 2_000n,
  leafCount: 2,
  treeHash: `0x${'ab'.repeat(32)}`,
  archiveHash: `0x${'cd'.repeat(32)}`,
}
const registered = new Set(['pv-000001', 'pv-000002'])

describe('commitmentGate', () => {
  it('funds an epoch whose stored tree backs the commitment', () => {
    const gate = commitmentGate('gcl-pv', honest, { kind: 'found', bytes }, registered)
    expect(gate.kind).toBe('backed')
    // The parsed tree goes on to the archive audit: parsed once.
    if (gate.kind === 'backed') expect(gate.tree.root).toBe(tree.root)
  })

  it('waits, naming the epoch and the hash, when the tree is not in the store (attack10a F1, gcl-pv 70)', () => {
    const gate = commitmentGate(
      'gcl-pv',
      { ...honest, revenueUnits: 999_999_999n },
      { kind: 'missing' },
      registered,
    )
    expect(gate.kind).toBe('wait')
    if (gate.kind !== 'wait') return
    expect(gate.artifact).toBe('device tree')
    expect(gate.hash).toBe(honest.treeHash)
    expect(gate.problem).toContain('epoch 70 of pool gcl-pv')
    expect(gate.problem).toContain(honest.treeHash)
    expect(gate.problem).toContain('not in the artifact store')
  })

  it('waits when the stored file does not hash to the committed treeHash', () => {
    const gate = commitmentGate('gcl-pv', honest, { kind: 'corrupt', detail: 'hashes to 0x7f09' }, registered)
    expect(gate.kind).toBe('wait')
    if (gate.kind === 'wait') expect(gate.problem).toContain('hashes to 0x7f09')
  })

  it('refuses 800,000 HKD against ~3,049 real: the committed revenue is not the leaves', () => {
    const gate = commitmentGate(
      'gcl-pv',
      { ...honest, revenueUnits: 800_000_000_000n },
      { kind: 'found', bytes },
      registered,
    )
    expect(gate.kind).toBe('refuse')
    if (gate.kind === 'refuse') expect(gate.problems.map((p) => p.code)).toEqual(['TOTALS_MISMATCH'])
  })

  it("refuses a leaf for a device not registered in this pool, and another pool's tree", () => {
    const phantom = commitmentGate('gcl-pv', honest, { kind: 'found', bytes }, new Set(['pv-000001']))
    expect(phantom.kind === 'refuse' && phantom.problems.map((p) => [p.code, p.deviceId])).toEqual([
      ['UNREGISTERED_DEVICE', 'pv-000002'],
    ])
    const foreign = commitmentGate('longshine-ev', honest, { kind: 'found', bytes }, registered)
    expect(foreign.kind === 'refuse' && foreign.problems.map((p) => p.code)).toEqual([
      'FOREIGN_LEAF',
      'FOREIGN_LEAF',
    ])
  })

  it('waits for a readings archive the store does not have, naming it; none when it is there', () => {
    const wait = artifactWait('gcl-pv', 70, 'readings archive', honest.archiveHash, { kind: 'missing' })
    expect(wait).toMatchObject({ kind: 'wait', artifact: 'readings archive', hash: honest.archiveHash })
    expect(wait?.problem).toContain(
      `epoch 70 of pool gcl-pv is final, but its readings archive ${honest.archiveHash}`,
    )
    expect(artifactWait('gcl-pv', 70, 'readings archive', honest.archiveHash, { kind: 'found', bytes })).toBe(
      undefined,
    )
  })
})
