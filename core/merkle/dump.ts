/**
 * Published trees in OpenZeppelin's StandardMerkleTree dump format ("standard-v1"), so an
 * auditor runs `StandardMerkleTree.load(JSON.parse(file))` and gets our root and proofs:
 * `{"format":"standard-v1","leafEncoding":[…],"tree":["0x…",…],"values":[{"value":[…],"treeIndex":N},…]}`.
 * Values are in rank order and every integer is a decimal string. The bytes are deterministic
 * (compact JSON, fixed key order), so the file's keccak256 (`treeHash` on-chain) is too.
 *
 * The empty tree is written with `"tree":[]` and `"values":[]`; OpenZeppelin's `load` refuses
 * it (its library has no empty tree), `parseTreeDump` returns the empty tree (root 0x00…00).
 */
import type { Hex } from 'viem'
import { bytesToHex } from './abi-words.ts'
import { MerkleDumpInvalidError } from './errors.ts'
import type { DumpValue, LeafLayout } from './leaves.ts'
import { buildTreeWithOrder, type MerkleTree } from './tree.ts'

export interface StandardTreeDump {
  readonly format: 'standard-v1'
  readonly leafEncoding: readonly string[]
  readonly tree: readonly Hex[]
  readonly values: readonly { readonly value: DumpValue; readonly treeIndex: number }[]
}

/** The dump as an object (what `StandardMerkleTree.prototype.dump()` returns). */
export function treeDump<L>(tree: MerkleTree<L>): StandardTreeDump {
  const nodeCount = tree.nodes.length / 32
  const nodes: Hex[] = new Array(nodeCount)
  for (let i = 0; i < nodeCount; i++) nodes[i] = bytesToHex(tree.nodes, 32 * i, 32)
  return {
    format: 'standard-v1',
    leafEncoding: [...tree.layout.encoding],
    tree: nodes,
    values: tree.leaves.map((leaf, rank) => ({
      value: tree.layout.toValues(leaf),
      treeIndex: tree.treeIndex(rank),
    })),
  }
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1')

/**
 * The dump as compact JSON bytes, written straight into a buffer: the 2n-1 node strings are
 * most of a dump (~140 MB of a million-leaf tree's ~370 MB) and go out as hex without strings.
 */
export function serializeTree<L>(tree: MerkleTree<L>): Buffer {
  const nodeCount = tree.nodes.length / 32
  const out = new GrowableBuffer(nodeCount * 69 + tree.leafCount * 160 + 256)
  out.ascii(`{"format":"standard-v1","leafEncoding":${JSON.stringify(tree.layout.encoding)},"tree":[`)
  out.reserve(nodeCount * 69)
  for (let i = 0; i < nodeCount; i++) {
    const at = out.length
    const bytes = out.bytes
    bytes[at] = 34 // "
    bytes[at + 1] = 48 // 0
    bytes[at + 2] = 120 // x
    for (let j = 0; j < 32; j++) {
      const b = tree.nodes[32 * i + j]!
      bytes[at + 3 + 2 * j] = HEX_DIGITS[b >> 4]!
      bytes[at + 4 + 2 * j] = HEX_DIGITS[b & 15]!
    }
    bytes[at + 67] = 34
    bytes[at + 68] = 44 // ,
    out.length += i === nodeCount - 1 ? 68 : 69
  }
  out.ascii('],"values":[')
  for (let rank = 0; rank < tree.leafCount; rank++) {
    if (rank > 0) out.ascii(',')
    out.utf8(
      `{"value":${JSON.stringify(tree.layout.toValues(tree.leaves[rank]!))},"treeIndex":${tree.treeIndex(rank)}}`,
    )
  }
  out.ascii(']}')
  return out.result()
}

class GrowableBuffer {
  bytes: Buffer
  length = 0
  constructor(initial: number) {
    this.bytes = Buffer.allocUnsafe(Math.max(1024, initial))
  }
  reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return
    const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + extra))
    this.bytes.copy(next, 0, 0, this.length)
    this.bytes = next
  }
  ascii(text: string): void {
    this.reserve(text.length)
    this.length += this.bytes.write(text, this.length, 'latin1')
  }
  utf8(text: string): void {
    this.reserve(Buffer.byteLength(text))
    this.length += this.bytes.write(text, this.length, 'utf8')
  }
  result(): Buffer {
    return this.bytes.subarray(0, this.length)
  }
}

/**
 * Parses a published tree and checks it completely: its leaf encoding is this layout's, every
 * value is a valid leaf, and rebuilding the tree from the values gives exactly the published
 * nodes and tree indices. Accepts any dump whose leaves are sorted (OpenZeppelin's default),
 * whatever the order of its values. Returns the rebuilt tree.
 */
export function parseTreeDump<L>(layout: LeafLayout<L>, bytes: Uint8Array | string): MerkleTree<L> {
  let document: unknown
  try {
    document = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'))
  } catch (cause) {
    throw new MerkleDumpInvalidError('it is not JSON', cause)
  }
  const dump = document as Partial<StandardTreeDump> | null
  if (!dump || typeof dump !== 'object' || dump.format !== 'standard-v1')
    throw new MerkleDumpInvalidError('its format is not standard-v1')
  if (!Array.isArray(dump.leafEncoding) || dump.leafEncoding.join(',') !== layout.encoding.join(','))
    throw new MerkleDumpInvalidError(
      `its leaf encoding is not the ${layout.kind} leaf's (${layout.encoding.join(',')})`,
    )
  if (!Array.isArray(dump.tree) || !Array.isArray(dump.values))
    throw new MerkleDumpInvalidError('it has no tree or values array')
  const n = dump.values.length
  if (dump.tree.length !== (n === 0 ? 0 : 2 * n - 1))
    throw new MerkleDumpInvalidError(`${dump.tree.length} nodes for ${n} values`)
  const leaves = dump.values.map((entry, i) => {
    try {
      return layout.fromValues(entry.value)
    } catch (cause) {
      throw new MerkleDumpInvalidError(`value ${i} is not a valid ${layout.kind} leaf`, cause)
    }
  })
  const { tree, inputIndexOfRank } = buildTreeWithOrder(layout, leaves)
  for (let rank = 0; rank < n; rank++) {
    if (dump.values[inputIndexOfRank[rank]!]!.treeIndex !== tree.treeIndex(rank))
      throw new MerkleDumpInvalidError(`value ${inputIndexOfRank[rank]} has the wrong treeIndex`)
  }
  const published = Buffer.from(
    dump.tree.map((node) => (typeof node === 'string' ? node.slice(2) : '')).join(''),
    'hex',
  )
  if (published.length !== tree.nodes.length || !published.equals(tree.nodes)) {
    const bad = dump.tree.findIndex((node, i) => node.toLowerCase() !== bytesToHex(tree.nodes, 32 * i, 32))
    throw new MerkleDumpInvalidError(`node ${bad} does not match the tree rebuilt from the values`)
  }
  return tree
}
