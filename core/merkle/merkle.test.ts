import { availableParallelism } from 'node:os'
import { SimpleMerkleTree, StandardMerkleTree } from '@openzeppelin/merkle-tree'
import fc from 'fast-check'
import { type Address, encodeAbiParameters, type Hex, keccak256, stringToHex } from 'viem'
import { describe, expect, it, vi } from 'vitest'
import {
  buildDeviceTree,
  buildHolderTree,
  buildRegistryTree,
  buildTreeWithOrder,
  DEVICE_LEAF_ENCODING,
  type DeviceLeaf,
  deviceLeafHash,
  deviceLeafLayout,
  EMPTY_ROOT,
  encodeLeaf,
  HOLDER_LEAF_ENCODING,
  type HolderLeaf,
  holderLeafLayout,
  parseTreeDump,
  poolIdFromBytes32,
  poolIdToBytes32,
  proofAt,
  REGISTRY_LEAF_ENCODING,
  type RegistryLeaf,
  registryLeafLayout,
  serializeTree,
  treeDump,
  verifyProof,
} from './index.ts'
import { parallelHashingAvailable } from './leaf-hasher.ts'

const hex32 = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => `0x${Buffer.from(b).toString('hex')}` as Hex)
const address = fc
  .uint8Array({ minLength: 20, maxLength: 20 })
  .map((b) => `0x${Buffer.from(b).toString('hex')}` as Address)
const uint256 = fc.bigInt({ min: 0n, max: (1n << 256n) - 1n })
const deviceId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
const poolId = fc.stringMatching(/^[a-z0-9-]{1,31}$/)

const deviceLeaf = (pool: string, epoch: number) =>
  fc.record({
    poolId: fc.constant(pool),
    epoch: fc.constant(epoch),
    deviceId,
    energyWh: fc.oneof(fc.nat(), uint256),
    revenueUnits: uint256,
    readings: fc.nat({ max: 0xffffffff }),
    readingsDigest: hex32,
  })

const uniqueDevices = (pool = 'pool-a', epoch = 7, max = 24) =>
  fc.uniqueArray(deviceLeaf(pool, epoch), { selector: (l) => l.deviceId, minLength: 1, maxLength: max })

const deviceAbi = (l: DeviceLeaf): Hex =>
  encodeAbiParameters(
    DEVICE_LEAF_ENCODING.map((type) => ({ type })),
    [
      stringToHex(l.poolId, { size: 32 }),
      BigInt(l.epoch),
      l.deviceId,
      BigInt(l.energyWh),
      l.revenueUnits,
      l.readings,
      l.readingsDigest,
    ],
  )

const hex = (bytes: Uint8Array): Hex => `0x${Buffer.from(bytes).toString('hex')}`

describe('leaf encodings', () => {
  it('device leaf: the direct encoder writes exactly what viem’s abi.encode writes', () => {
    fc.assert(
      fc.property(poolId, fc.nat(), (pool, epoch) =>
        fc.assert(
          fc.property(deviceLeaf(pool, epoch), (leaf) => {
            expect(hex(encodeLeaf(deviceLeafLayout, leaf))).toBe(deviceAbi(leaf))
          }),
          { numRuns: 5 },
        ),
      ),
      { numRuns: 20 },
    )
  })

  it('holder and registry leaves match viem’s abi.encode', () => {
    fc.assert(
      fc.property(poolId, address, uint256, (pool, account, amount) => {
        const leaf: HolderLeaf = { poolId: pool, account, cumulativeAmount: amount }
        expect(hex(encodeLeaf(holderLeafLayout, leaf))).toBe(
          encodeAbiParameters(
            HOLDER_LEAF_ENCODING.map((type) => ({ type })),
            [stringToHex(pool, { size: 32 }), account, amount],
          ),
        )
      }),
      { numRuns: 50 },
    )
    fc.assert(
      fc.property(
        poolId,
        deviceId,
        hex32,
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 70 }),
        (pool, id, key, w, tariff) => {
          const leaf: RegistryLeaf = {
            deviceId: id,
            assetClass: 'pv',
            poolId: pool,
            publicKey: key,
            ratedPowerW: w,
            tariffId: tariff,
          }
          expect(hex(encodeLeaf(registryLeafLayout, leaf))).toBe(
            encodeAbiParameters(
              REGISTRY_LEAF_ENCODING.map((type) => ({ type })),
              [id, 'pv', stringToHex(pool, { size: 32 }), key, BigInt(w), tariff],
            ),
          )
        },
      ),
      { numRuns: 50 },
    )
  })

  it('leaf hash is keccak256(bytes.concat(keccak256(abi.encode(...))))', () => {
    const leaf: DeviceLeaf = {
      poolId: 'gcl-pv-01',
      epoch: 3,
      deviceId: 'pv-000001',
      energyWh: 12_345,
      revenueUnits: 6_789_000n,
      readings: 288,
      readingsDigest: `0x${'ab'.repeat(32)}`,
    }
    expect(deviceLeafHash(leaf)).toBe(keccak256(keccak256(deviceAbi(leaf))))
  })

  it('pool ids are left-aligned, zero-padded ASCII in a bytes32, as viem’s stringToHex(id, { size: 32 })', () => {
    fc.assert(
      fc.property(poolId, (id) => {
        expect(poolIdToBytes32(id)).toBe(stringToHex(id, { size: 32 }))
        expect(poolIdFromBytes32(poolIdToBytes32(id))).toBe(id)
      }),
    )
    for (const bad of ['', 'Pool', 'a'.repeat(32), 'pool_a', 'pöol'])
      expect(() => poolIdToBytes32(bad)).toThrow(expect.objectContaining({ code: 'MERKLE_LEAF_INVALID' }))
  })

  it('refuses values outside their ABI type with MERKLE_LEAF_INVALID', () => {
    const ok: DeviceLeaf = {
      poolId: 'p',
      epoch: 1,
      deviceId: 'd',
      energyWh: 1,
      revenueUnits: 1n,
      readings: 1,
      readingsDigest: EMPTY_ROOT,
    }
    const bad: Partial<DeviceLeaf>[] = [
      { epoch: 2n ** 64n },
      { epoch: -1 },
      { energyWh: 1.5 },
      { revenueUnits: -1n },
      { revenueUnits: 1n << 256n },
      { readings: 2 ** 32 },
      { readingsDigest: '0x12' },
      { readingsDigest: `0x${'zz'.repeat(32)}` },
      { deviceId: '' },
    ]
    for (const change of bad)
      expect(
        () => buildDeviceTree([{ ...ok, ...change }]),
        JSON.stringify(change, (_, v) => String(v)),
      ).toThrow(expect.objectContaining({ code: 'MERKLE_LEAF_INVALID' }))
  })
})

// OpenZeppelin's library hashes with a JS keccak: generous timeouts for a shared, loaded machine.
vi.setConfig({ testTimeout: 60_000 })

describe('trees', () => {
  it('give OpenZeppelin StandardMerkleTree’s root and proofs, and every proof verifies', () => {
    fc.assert(
      fc.property(uniqueDevices(), (leaves) => {
        const tree = buildDeviceTree(leaves)
        const oz = StandardMerkleTree.of(
          leaves.map((l) => deviceLeafLayout.toValues(l) as string[]),
          [...DEVICE_LEAF_ENCODING],
        )
        expect(tree.root).toBe(oz.root)
        expect(tree.leafCount).toBe(leaves.length)
        const proofs = tree.proofs()
        for (let rank = 0; rank < tree.leafCount; rank++) {
          const leaf = tree.leaves[rank]!
          const proof = tree.proof(rank)
          expect(proof).toEqual(oz.getProof(deviceLeafLayout.toValues(leaf) as string[]))
          expect(proofAt(tree, proofs, rank)).toEqual(proof)
          expect(verifyProof(tree.root, deviceLeafHash(leaf), proof)).toBe(true)
          expect(tree.rankOf(leaf.deviceId)).toBe(rank)
        }
      }),
      { numRuns: 15 },
    )
  })

  it('a proof fails for a changed leaf and for another root', () => {
    fc.assert(
      fc.property(uniqueDevices('pool-b', 1, 20), (leaves) => {
        const tree = buildDeviceTree(leaves)
        const leaf = tree.leaves[0]!
        const changed = { ...leaf, revenueUnits: BigInt(leaf.revenueUnits) + 1n }
        expect(verifyProof(tree.root, deviceLeafHash(changed), tree.proof(0))).toBe(false)
        expect(verifyProof(`0x${'11'.repeat(32)}`, deviceLeafHash(leaf), tree.proof(0))).toBe(false)
      }),
      { numRuns: 20 },
    )
  })

  it('the same leaves in any order give the same root and the same published bytes', () => {
    fc.assert(
      fc.property(
        uniqueDevices().chain((leaves) =>
          fc.tuple(fc.constant(leaves), fc.shuffledSubarray(leaves, { minLength: leaves.length })),
        ),
        ([leaves, shuffled]) => {
          const a = buildDeviceTree(leaves)
          const b = buildDeviceTree(shuffled)
          expect(b.root).toBe(a.root)
          expect(serializeTree(b).equals(serializeTree(a))).toBe(true)
        },
      ),
      { numRuns: 15 },
    )
  })

  it('holder and registry trees match OpenZeppelin too', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(address, { minLength: 1, maxLength: 30 }),
        fc.array(uint256, { minLength: 30, maxLength: 30 }),
        (accounts, amounts) => {
          const leaves = accounts.map((account, i) => ({
            poolId: 'pool-h',
            account,
            cumulativeAmount: amounts[i]!,
          }))
          const tree = buildHolderTree(leaves)
          const oz = StandardMerkleTree.of(
            leaves.map((l) => holderLeafLayout.toValues(l) as string[]),
            [...HOLDER_LEAF_ENCODING],
          )
          expect(tree.root).toBe(oz.root)
        },
      ),
      { numRuns: 20 },
    )
    const registry: RegistryLeaf[] = ['c-1', 'c-2', 'c-3'].map((id, i) => ({
      deviceId: id,
      assetClass: 'charger',
      poolId: 'longshine-01',
      publicKey: `0x${String(i).repeat(64)}`,
      ratedPowerW: 7000 + i,
      tariffId: 'ev-standard',
    }))
    const tree = buildRegistryTree(registry)
    expect(tree.root).toBe(
      StandardMerkleTree.of(
        registry.map((l) => registryLeafLayout.toValues(l) as string[]),
        [...REGISTRY_LEAF_ENCODING],
      ).root,
    )
  })

  it('a tree of two encoding chunks (17,000 leaves) is OpenZeppelin’s tree of the same leaf hashes', () => {
    const leaves: DeviceLeaf[] = Array.from({ length: 17_000 }, (_, i) => ({
      poolId: 'pool-big',
      epoch: 1,
      deviceId: `pv-${i}`,
      energyWh: i * 7,
      revenueUnits: BigInt(i) * 1_000_003n,
      readings: i % 300,
      readingsDigest: `0x${(i % 251).toString(16).padStart(2, '0').repeat(32)}`,
    }))
    const tree = buildDeviceTree(leaves)
    const oz = SimpleMerkleTree.of(leaves.map(deviceLeafHash))
    expect(tree.root).toBe(oz.root)
    expect(tree.proof(16_999)).toEqual(oz.getProof(tree.leafHash(16_999)))
  })

  it('a tree hashed on worker threads (70,000 leaves, 5 chunks) equals the one hashed on this thread', () => {
    const leaves: DeviceLeaf[] = Array.from({ length: 70_000 }, (_, i) => ({
      poolId: 'pool-big',
      epoch: 2,
      deviceId: `charger-${i}`,
      energyWh: i * 13,
      revenueUnits: BigInt(i) * 7_000_001n,
      readings: i % 400,
      readingsDigest: `0x${(i % 241).toString(16).padStart(2, '0').repeat(32)}`,
    }))
    expect(parallelHashingAvailable(5)).toBe(availableParallelism() > 1)
    const parallel = buildTreeWithOrder(deviceLeafLayout, leaves)
    const alone = buildTreeWithOrder(deviceLeafLayout, leaves, { parallel: false })
    expect(parallel.tree.root).toBe(alone.tree.root)
    expect(Buffer.from(parallel.tree.nodes).equals(Buffer.from(alone.tree.nodes))).toBe(true)
    expect(parallel.inputIndexOfRank).toEqual(alone.inputIndexOfRank)
    expect(parallel.tree.leafHash(12_345)).toBe(deviceLeafHash(parallel.tree.leaves[12_345]!))
    // A bad leaf in the last chunk and a duplicate are refused, and the workers serve the next tree.
    const bad = leaves.slice()
    bad[69_999] = { ...leaves[69_999]!, readingsDigest: `0x${'zz'.repeat(32)}` as Hex }
    expect(() => buildDeviceTree(bad)).toThrow(expect.objectContaining({ code: 'MERKLE_LEAF_INVALID' }))
    const twice = leaves.slice()
    twice[65_000] = { ...leaves[3]!, energyWh: 1 }
    expect(() => buildDeviceTree(twice)).toThrow(expect.objectContaining({ code: 'MERKLE_DUPLICATE_LEAF' }))
    expect(buildDeviceTree(leaves).root).toBe(alone.tree.root)
  })

  it('one leaf: the root is the leaf hash and the proof is empty', () => {
    const leaf: DeviceLeaf = {
      poolId: 'p',
      epoch: 0,
      deviceId: 'd',
      energyWh: 0,
      revenueUnits: 0n,
      readings: 0,
      readingsDigest: EMPTY_ROOT,
    }
    const tree = buildDeviceTree([leaf])
    expect(tree.root).toBe(deviceLeafHash(leaf))
    expect(tree.proof(0)).toEqual([])
  })

  it('the empty tree has root 0x00…00, no leaves, and its dump parses back', () => {
    const tree = buildDeviceTree([])
    expect(tree.root).toBe(EMPTY_ROOT)
    expect(tree.leafCount).toBe(0)
    const back = parseTreeDump(deviceLeafLayout, serializeTree(tree))
    expect(back.root).toBe(EMPTY_ROOT)
    expect(back.leafCount).toBe(0)
  })

  it('refuses two leaves of one device and leaves of two epochs in one tree', () => {
    const leaf: DeviceLeaf = {
      poolId: 'p',
      epoch: 0,
      deviceId: 'd',
      energyWh: 0,
      revenueUnits: 0n,
      readings: 0,
      readingsDigest: EMPTY_ROOT,
    }
    expect(() => buildDeviceTree([leaf, { ...leaf, energyWh: 5 }])).toThrow(
      expect.objectContaining({ code: 'MERKLE_DUPLICATE_LEAF' }),
    )
    expect(() => buildDeviceTree([leaf, { ...leaf, deviceId: 'e', epoch: 1 }])).toThrow(
      expect.objectContaining({ code: 'MERKLE_LEAF_INVALID' }),
    )
    expect(() =>
      buildHolderTree([
        { poolId: 'p', account: `0x${'aa'.repeat(20)}`, cumulativeAmount: 1n },
        { poolId: 'p', account: `0x${'AA'.repeat(20)}`, cumulativeAmount: 2n },
      ]),
    ).toThrow(expect.objectContaining({ code: 'MERKLE_DUPLICATE_LEAF' }))
  })
})

describe('published dump (StandardMerkleTree format)', () => {
  it('StandardMerkleTree.load accepts it and gives the same root and proofs; it equals OpenZeppelin’s own dump', () => {
    fc.assert(
      fc.property(uniqueDevices('pool-d', 9, 30), (leaves) => {
        const tree = buildDeviceTree(leaves)
        const bytes = serializeTree(tree)
        const loaded = StandardMerkleTree.load(JSON.parse(bytes.toString('utf8')))
        expect(loaded.root).toBe(tree.root)
        for (const [i, value] of loaded.entries())
          expect(loaded.getProof(i)).toEqual(tree.proof(tree.rankOf(value[2] as string)!))
        expect(JSON.parse(bytes.toString('utf8'))).toEqual(treeDump(tree))
        // OpenZeppelin's dump of the same leaves (values in input order) parses to the same tree
        const oz = StandardMerkleTree.of(
          leaves.map((l) => deviceLeafLayout.toValues(l) as string[]),
          [...DEVICE_LEAF_ENCODING],
        )
        expect(parseTreeDump(deviceLeafLayout, JSON.stringify(oz.dump())).root).toBe(tree.root)
        expect(parseTreeDump(deviceLeafLayout, bytes).root).toBe(tree.root)
      }),
      { numRuns: 15 },
    )
  })

  it('reads compact and formatted dumps alike, and refuses the same tampering in both', () => {
    const leaves: DeviceLeaf[] = ['a', 'b', 'ü-3', 'd'].map((id, i) => ({
      poolId: 'p',
      epoch: 4,
      deviceId: id,
      energyWh: 10 * i,
      revenueUnits: BigInt(7 * i),
      readings: i,
      readingsDigest: `0x${'ab'.repeat(32)}`,
    }))
    const tree = buildDeviceTree(leaves)
    const dump = JSON.parse(serializeTree(tree).toString('utf8'))
    const code = expect.objectContaining({ code: 'MERKLE_DUMP_INVALID' })
    for (const write of [(d: unknown) => JSON.stringify(d), (d: unknown) => JSON.stringify(d, null, 2)]) {
      expect(parseTreeDump(deviceLeafLayout, write(dump)).root).toBe(tree.root)
      const upper = structuredClone(dump)
      upper.tree[1] = `0x${upper.tree[1].slice(2).toUpperCase()}`
      expect(parseTreeDump(deviceLeafLayout, write(upper)).root).toBe(tree.root)
      const node = structuredClone(dump)
      node.tree[5] = `0x${'0'.repeat(63)}1`
      expect(() => parseTreeDump(deviceLeafLayout, write(node))).toThrow(code)
      const notHex = structuredClone(dump)
      notHex.tree[2] = `0x${'g'.repeat(64)}`
      expect(() => parseTreeDump(deviceLeafLayout, write(notHex))).toThrow(code)
      const index = structuredClone(dump)
      index.values[0].treeIndex = String(index.values[0].treeIndex)
      expect(() => parseTreeDump(deviceLeafLayout, write(index))).toThrow(code)
      const escaped = structuredClone(dump)
      escaped.values[1].value[2] = 'b\n'
      expect(() => parseTreeDump(deviceLeafLayout, write(escaped))).toThrow(code)
    }
  })

  it('refuses a tampered dump: a changed value, a changed node, a swapped treeIndex, another encoding', () => {
    const leaves: DeviceLeaf[] = ['a', 'b', 'c', 'd', 'e'].map((id, i) => ({
      poolId: 'p',
      epoch: 2,
      deviceId: id,
      energyWh: 100 * i,
      revenueUnits: BigInt(1000 * i),
      readings: i,
      readingsDigest: EMPTY_ROOT,
    }))
    const dump = JSON.parse(serializeTree(buildDeviceTree(leaves)).toString('utf8'))
    const tamper = (change: (d: typeof dump) => void) => {
      const copy = structuredClone(dump)
      change(copy)
      return () => parseTreeDump(deviceLeafLayout, JSON.stringify(copy))
    }
    const code = expect.objectContaining({ code: 'MERKLE_DUMP_INVALID' })
    expect(tamper((d) => (d.values[1].value[4] = '999999'))).toThrow(code)
    expect(tamper((d) => (d.tree[0] = `0x${'00'.repeat(32)}`))).toThrow(code)
    expect(
      tamper((d) => {
        ;[d.values[0].treeIndex, d.values[1].treeIndex] = [d.values[1].treeIndex, d.values[0].treeIndex]
      }),
    ).toThrow(code)
    expect(tamper((d) => (d.leafEncoding = [...HOLDER_LEAF_ENCODING]))).toThrow(code)
    expect(tamper((d) => d.tree.pop())).toThrow(code)
    expect(() => parseTreeDump(deviceLeafLayout, '{"format":')).toThrow(code)
  })
})
