import fc from 'fast-check'
import type { Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { checkTreeCommitment, type EpochCommitment } from './commitment-check.ts'
import {
  buildDeviceTree,
  type DeviceLeaf,
  deviceLeafLayout,
  EMPTY_ROOT,
  serializeTree,
  treeDump,
} from './index.ts'

const digest = `0x${'11'.repeat(32)}` as Hex
const leaf = (
  deviceId: string,
  revenueUnits: bigint,
  energyWh: bigint,
  over: Partial<DeviceLeaf> = {},
): DeviceLeaf => ({
  poolId: 'xunying-swap',
  epoch: 66,
  deviceId,
  energyWh,
  revenueUnits,
  readings: 12,
  readingsDigest: digest,
  ...over,
})
// attack10a F1's epoch 66: two swap stations, 20,862,900 units over 3,181 Wh
const honestLeaves = [leaf('swp-000001', 13_870_200n, 2_078n), leaf('swp-000002', 6_992_700n, 1_103n)]
const registered = ['swp-000001', 'swp-000002']

function commitmentOf(leaves: readonly DeviceLeaf[], over: Partial<EpochCommitment> = {}): EpochCommitment {
  const tree = buildDeviceTree(leaves)
  return {
    poolId: 'xunying-swap',
    epoch: 66,
    root: tree.root,
    revenueUnits: leaves.reduce((s, l) => s + l.revenueUnits, 0n),
    energyWh: leaves.reduce((s, l) => s + BigInt(l.energyWh), 0n),
    leafCount: leaves.length,
    ...over,
  }
}
const codes = (problems: readonly { code: string }[]) => problems.map((p) => p.code)

describe('checkTreeCommitment', () => {
  it('passes the honest tree, as dump bytes, as text and as a parsed tree', () => {
    const tree = buildDeviceTree(honestLeaves)
    const commitment = commitmentOf(honestLeaves)
    for (const input of [serializeTree(tree), serializeTree(tree).toString('utf8'), tree])
      expect(checkTreeCommitment({ tree: input, commitment, registeredDeviceIds: registered })).toEqual([])
    // OpenZeppelin's JSON.stringify(dump()) with whitespace goes through the JSON path
    const pretty = JSON.stringify(treeDump(tree), null, 2)
    expect(
      checkTreeCommitment({ tree: pretty, commitment, registeredDeviceIds: new Set(registered) }),
    ).toEqual([])
  })

  it('passes the empty epoch (root 0x00…00, no leaves, zero totals)', () => {
    const empty = serializeTree(buildDeviceTree([]))
    const commitment = commitmentOf([], { root: EMPTY_ROOT })
    expect(checkTreeCommitment({ tree: empty, commitment, registeredDeviceIds: [] })).toEqual([])
  })

  it('TOTALS_MISMATCH: committed revenue ×10 + 1 over the genuine tree (attack10a F1, epoch 66)', () => {
    const commitment = commitmentOf(honestLeaves, { revenueUnits: 208_629_001n, energyWh: 31_811n })
    const problems = checkTreeCommitment({
      tree: serializeTree(buildDeviceTree(honestLeaves)),
      commitment,
      registeredDeviceIds: registered,
    })
    expect(codes(problems)).toEqual(['TOTALS_MISMATCH'])
    expect(problems[0]!.message).toContain('revenueUnits 20862900 and energyWh 3181')
    expect(problems[0]!.message).toContain('committed revenueUnits 208629001 and energyWh 31811')
  })

  it('TOTALS_MISMATCH on energy alone, and off by one unit', () => {
    const tree = buildDeviceTree(honestLeaves)
    const base = commitmentOf(honestLeaves)
    expect(
      codes(
        checkTreeCommitment({
          tree,
          commitment: { ...base, energyWh: base.energyWh + 1n },
          registeredDeviceIds: registered,
        }),
      ),
    ).toEqual(['TOTALS_MISMATCH'])
    expect(
      codes(
        checkTreeCommitment({
          tree,
          commitment: { ...base, revenueUnits: base.revenueUnits - 1n },
          registeredDeviceIds: registered,
        }),
      ),
    ).toEqual(['TOTALS_MISMATCH'])
  })

  it('UNREGISTERED_DEVICE: a phantom leaf whose totals are consistent (attack10a F1, epoch 98)', () => {
    const leaves = [...honestLeaves, leaf('swp-999999', 500_000_000n, 0n)]
    const problems = checkTreeCommitment({
      tree: serializeTree(buildDeviceTree(leaves)),
      commitment: commitmentOf(leaves),
      registeredDeviceIds: registered,
    })
    expect(codes(problems)).toEqual(['UNREGISTERED_DEVICE'])
    expect(problems[0]!.deviceId).toBe('swp-999999')
    expect(problems[0]!.message).toContain('swp-999999')
    expect(problems[0]!.message).toContain('500000000')
  })

  it("UNREGISTERED_DEVICE: another pool's registered device is not this pool's", () => {
    const problems = checkTreeCommitment({
      tree: buildDeviceTree(honestLeaves),
      commitment: commitmentOf(honestLeaves),
      registeredDeviceIds: ['swp-000001', 'pv-000001'],
    })
    expect(problems.map((p) => [p.code, p.deviceId])).toEqual([['UNREGISTERED_DEVICE', 'swp-000002']])
  })

  it('ROOT_MISMATCH names both roots', () => {
    const other = buildDeviceTree([leaf('swp-000001', 1n, 1n)]).root
    const problems = checkTreeCommitment({
      tree: buildDeviceTree(honestLeaves),
      commitment: commitmentOf(honestLeaves, { root: other }),
      registeredDeviceIds: registered,
    })
    expect(codes(problems)).toEqual(['ROOT_MISMATCH'])
    expect(problems[0]!.message).toContain(other)
    expect(problems[0]!.message).toContain(buildDeviceTree(honestLeaves).root)
  })

  it('LEAF_COUNT_MISMATCH names both counts', () => {
    const problems = checkTreeCommitment({
      tree: buildDeviceTree(honestLeaves),
      commitment: commitmentOf(honestLeaves, { leafCount: 3 }),
      registeredDeviceIds: registered,
    })
    expect(codes(problems)).toEqual(['LEAF_COUNT_MISMATCH'])
    expect(problems[0]!.message).toContain('2 leaves')
    expect(problems[0]!.message).toContain('leafCount 3')
  })

  it('FOREIGN_LEAF: a whole tree of another epoch, or of another pool', () => {
    const epoch65 = honestLeaves.map((l) => ({ ...l, epoch: 65 }))
    const problems = checkTreeCommitment({
      tree: serializeTree(buildDeviceTree(epoch65)),
      commitment: commitmentOf(epoch65, { epoch: 66 }),
      registeredDeviceIds: registered,
    })
    expect(codes(problems)).toEqual(['FOREIGN_LEAF', 'FOREIGN_LEAF'])
    expect(problems[0]!.message).toContain('epoch 65')
    const otherPool = honestLeaves.map((l) => ({ ...l, poolId: 'gcl-pv' }))
    expect(
      codes(
        checkTreeCommitment({
          tree: buildDeviceTree(otherPool),
          commitment: commitmentOf(otherPool, { poolId: 'xunying-swap' }),
          registeredDeviceIds: registered,
        }),
      ),
    ).toEqual(['FOREIGN_LEAF', 'FOREIGN_LEAF'])
  })

  it('FOREIGN_LEAF: a dump that mixes epochs (the parser refuses it)', () => {
    const dump = handDump([leaf('swp-000001', 1n, 1n), leaf('swp-000002', 1n, 1n, { epoch: 65 })])
    const problems = checkTreeCommitment({
      tree: dump,
      commitment: commitmentOf(honestLeaves),
      registeredDeviceIds: registered,
    })
    expect(codes(problems)).toEqual(['FOREIGN_LEAF'])
    expect(problems[0]!.message).toContain('epoch 65')
  })

  it('DUPLICATE_DEVICE: a dump with two leaves for one device', () => {
    const dump = handDump([leaf('swp-000001', 1n, 1n), leaf('swp-000001', 2n, 1n)])
    const problems = checkTreeCommitment({
      tree: dump,
      commitment: commitmentOf(honestLeaves),
      registeredDeviceIds: registered,
    })
    expect(problems.map((p) => [p.code, p.deviceId])).toEqual([['DUPLICATE_DEVICE', 'swp-000001']])
  })

  it('TREE_INVALID: not JSON, a node altered, a holder tree', () => {
    const commitment = commitmentOf(honestLeaves)
    expect(
      codes(checkTreeCommitment({ tree: 'not json', commitment, registeredDeviceIds: registered })),
    ).toEqual(['TREE_INVALID'])
    const bytes = Buffer.from(serializeTree(buildDeviceTree(honestLeaves)))
    bytes[bytes.indexOf('0x') + 2] = bytes[bytes.indexOf('0x') + 2] === 48 ? 49 : 48
    const problems = checkTreeCommitment({ tree: bytes, commitment, registeredDeviceIds: registered })
    expect(codes(problems)).toEqual(['TREE_INVALID'])
    expect(problems[0]!.message).toContain('node 0')
    const holder = JSON.stringify({
      format: 'standard-v1',
      leafEncoding: ['bytes32', 'address', 'uint256'],
      tree: [],
      values: [],
    })
    expect(codes(checkTreeCommitment({ tree: holder, commitment, registeredDeviceIds: registered }))).toEqual(
      ['TREE_INVALID'],
    )
  })

  it('lists every problem at once, and caps per-leaf problems at 20 per code', () => {
    const leaves = Array.from({ length: 25 }, (_, i) => leaf(`ghost-${i}`, 1n, 1n))
    const problems = checkTreeCommitment({
      tree: buildDeviceTree(leaves),
      commitment: commitmentOf(leaves, { revenueUnits: 0n, leafCount: 1 }),
      registeredDeviceIds: registered,
    })
    expect(codes(problems).filter((c) => c === 'UNREGISTERED_DEVICE')).toHaveLength(21)
    expect(problems.at(-1)!.message).toContain('5 more leaves with UNREGISTERED_DEVICE')
    expect(codes(problems).slice(0, 2)).toEqual(['LEAF_COUNT_MISMATCH', 'TOTALS_MISMATCH'])
  })

  it('property: a tree passes its own commitment, and fails with any total moved by any amount', () => {
    const leaves = fc
      .uniqueArray(
        fc.record({
          id: fc.stringMatching(/^dev-[0-9]{1,4}$/),
          revenueUnits: fc.bigInt({ min: 0n, max: 1n << 80n }),
          energyWh: fc.bigInt({ min: 0n, max: 1n << 40n }),
        }),
        { minLength: 1, maxLength: 12, selector: (r) => r.id },
      )
      .map((rows) => rows.map((r) => leaf(r.id, r.revenueUnits, r.energyWh)))
    fc.assert(
      fc.property(leaves, fc.bigInt({ min: 1n, max: 1n << 90n }), fc.boolean(), (ls, delta, onRevenue) => {
        const tree = buildDeviceTree(ls)
        const ids = ls.map((l) => l.deviceId)
        const commitment = commitmentOf(ls)
        expect(checkTreeCommitment({ tree, commitment, registeredDeviceIds: ids })).toEqual([])
        const moved = onRevenue
          ? { ...commitment, revenueUnits: commitment.revenueUnits + delta }
          : { ...commitment, energyWh: commitment.energyWh + delta }
        expect(codes(checkTreeCommitment({ tree, commitment: moved, registeredDeviceIds: ids }))).toEqual([
          'TOTALS_MISMATCH',
        ])
      }),
      { numRuns: 50 },
    )
  })
})

/** A dump of these leaves as values, with made-up nodes: what a forger could publish. */
function handDump(leaves: readonly DeviceLeaf[]): string {
  const n = leaves.length
  return JSON.stringify({
    format: 'standard-v1',
    leafEncoding: deviceLeafLayout.encoding,
    tree: Array.from({ length: 2 * n - 1 }, () => `0x${'ab'.repeat(32)}`),
    values: leaves.map((l, i) => ({ value: deviceLeafLayout.toValues(l), treeIndex: 2 * n - 2 - i })),
  })
}
