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
/** Printable ASCII without `"` and `\\`: JSON.stringify writes such a string as it is, quoted. */
const PLAIN_JSON_STRING = /^[ !#-[\]-~]*$/

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
    out.ascii(rank > 0 ? ',{"value":[' : '{"value":[')
    const values = tree.layout.toValues(tree.leaves[rank]!)
    for (let i = 0; i < values.length; i++) {
      if (i > 0) out.ascii(',')
      const value = values[i]!
      // what JSON.stringify would write, without it for the plain ASCII that nearly all values are
      if (PLAIN_JSON_STRING.test(value)) out.ascii(`"${value}"`)
      else out.utf8(JSON.stringify(value))
    }
    out.ascii(`],"treeIndex":${tree.treeIndex(rank)}}`)
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

/** A dump read into what the check needs: its nodes as bytes and its values as given. */
interface ParsedDump {
  readonly nodes: Uint8Array
  readonly nodeCount: number
  readonly values: readonly { readonly value: unknown; readonly treeIndex: unknown }[]
}

/**
 * Parses a published tree and checks it completely: its leaf encoding is this layout's, every
 * value is a valid leaf, and rebuilding the tree from the values (every leaf hash and every
 * inner node recomputed) gives exactly the published nodes, root included, and tree indices.
 * Accepts any dump whose leaves are sorted (OpenZeppelin's default), whatever the order of its
 * values. Returns the rebuilt tree.
 *
 * Compact dumps (ours, and `JSON.stringify` of OpenZeppelin's `dump()`) are read by a byte
 * scanner that decodes the node hex straight into bytes; anything else it does not recognize
 * (whitespace, escapes, another key order) goes through JSON.parse. Both feed the same check.
 */
export function parseTreeDump<L>(layout: LeafLayout<L>, bytes: Uint8Array | string): MerkleTree<L> {
  const buffer =
    typeof bytes === 'string'
      ? Buffer.from(bytes, 'utf8')
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const dump = scanCompactDump(layout, buffer) ?? parseDumpJson(layout, buffer)
  const n = dump.values.length
  if (dump.nodeCount !== (n === 0 ? 0 : 2 * n - 1))
    throw new MerkleDumpInvalidError(`${dump.nodeCount} nodes for ${n} values`)
  const leaves = new Array<L>(n)
  for (let i = 0; i < n; i++) {
    try {
      leaves[i] = layout.fromValues(dump.values[i]!.value as readonly unknown[])
    } catch (cause) {
      throw new MerkleDumpInvalidError(`value ${i} is not a valid ${layout.kind} leaf`, cause)
    }
  }
  const { tree, inputIndexOfRank } = buildTreeWithOrder(layout, leaves)
  for (let rank = 0; rank < n; rank++) {
    if (dump.values[inputIndexOfRank[rank]!]!.treeIndex !== tree.treeIndex(rank))
      throw new MerkleDumpInvalidError(`value ${inputIndexOfRank[rank]} has the wrong treeIndex`)
  }
  if (dump.nodes.length !== tree.nodes.length || !Buffer.from(dump.nodes).equals(tree.nodes)) {
    let bad = 0
    while (
      bad < dump.nodeCount &&
      Buffer.compare(
        dump.nodes.subarray(32 * bad, 32 * bad + 32),
        tree.nodes.subarray(32 * bad, 32 * bad + 32),
      ) === 0
    )
      bad++
    throw new MerkleDumpInvalidError(`node ${bad} does not match the tree rebuilt from the values`)
  }
  return tree
}

function parseDumpJson<L>(layout: LeafLayout<L>, buffer: Buffer): ParsedDump {
  let document: unknown
  try {
    document = JSON.parse(buffer.toString('utf8'))
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
  const nodes = new Uint8Array(32 * dump.tree.length)
  dump.tree.forEach((node, i) => {
    // a node that is not 0x and 64 hex digits is left zero: the comparison then names it
    if (typeof node === 'string' && /^0x[0-9a-fA-F]{64}$/.test(node))
      nodes.set(Buffer.from(node.slice(2), 'hex'), 32 * i)
  })
  for (const entry of dump.values)
    if (!entry || typeof entry !== 'object')
      throw new MerkleDumpInvalidError('a value entry is not an object')
  return { nodes, nodeCount: dump.tree.length, values: dump.values }
}

const HEX_OF = (() => {
  const table = new Int8Array(256).fill(-1)
  for (let d = 0; d < 16; d++) {
    table['0123456789abcdef'.charCodeAt(d)] = d
    table['0123456789ABCDEF'.charCodeAt(d)] = d
  }
  return table
})()
const QUOTE = 34
const COMMA = 44
const BACKSLASH = 92

/**
 * The byte scanner for compact dumps. Returns undefined, never throws, for anything outside the
 * exact compact shape, so that JSON.parse decides (and words the error).
 */
function scanCompactDump<L>(layout: LeafLayout<L>, b: Buffer): ParsedDump | undefined {
  const head = Buffer.from(
    `{"format":"standard-v1","leafEncoding":${JSON.stringify(layout.encoding)},"tree":[`,
    'latin1',
  )
  if (b.length < head.length || !b.subarray(0, head.length).equals(head)) return undefined
  let at = head.length
  // nodes: "0x" and 64 hex digits, comma-separated, 69 bytes apart
  const nodesEnd = b.indexOf('],"values":[', at, 'latin1')
  if (nodesEnd < 0) return undefined
  const span = nodesEnd - at
  const nodeCount = span === 0 ? 0 : (span + 1) / 69
  if (!Number.isInteger(nodeCount)) return undefined
  const nodes = new Uint8Array(32 * nodeCount)
  for (let i = 0; i < nodeCount; i++, at += 69) {
    if (b[at] !== QUOTE || b[at + 1] !== 48 || (b[at + 2]! | 32) !== 120 || b[at + 67] !== QUOTE)
      return undefined
    if (i < nodeCount - 1 && b[at + 68] !== COMMA) return undefined
    let bad = 0
    for (let j = 0; j < 32; j++) {
      const hi = HEX_OF[b[at + 3 + 2 * j]!]!
      const lo = HEX_OF[b[at + 4 + 2 * j]!]!
      bad |= hi | lo
      nodes[32 * i + j] = (hi << 4) | (lo & 15)
    }
    if (bad < 0) return undefined
  }
  at = nodesEnd + '],"values":['.length
  const values: { value: string[]; treeIndex: number }[] = []
  const valueHead = Buffer.from('{"value":[', 'latin1')
  const indexHead = Buffer.from('],"treeIndex":', 'latin1')
  if (b[at] !== 93) {
    for (;;) {
      if (!startsWith(b, at, valueHead)) return undefined
      at += valueHead.length
      const value: string[] = []
      for (;;) {
        if (b[at] !== QUOTE) return undefined
        let end = at + 1
        let ascii = true
        while (end < b.length && b[end] !== QUOTE) {
          const c = b[end]!
          if (c === BACKSLASH || c < 32) return undefined
          if (c > 127) ascii = false
          end++
        }
        if (end >= b.length) return undefined
        value.push(b.toString(ascii ? 'latin1' : 'utf8', at + 1, end))
        at = end + 1
        if (b[at] === COMMA) at++
        else break
      }
      if (!startsWith(b, at, indexHead)) return undefined
      at += indexHead.length
      let treeIndex = 0
      const digitsAt = at
      while (b[at]! >= 48 && b[at]! <= 57 && at - digitsAt < 10) treeIndex = treeIndex * 10 + (b[at++]! - 48)
      if (at === digitsAt || (b[digitsAt] === 48 && at - digitsAt > 1) || b[at] !== 125) return undefined
      at++
      values.push({ value, treeIndex })
      if (b[at] === COMMA) at++
      else break
    }
  }
  if (b[at] !== 93 || b[at + 1] !== 125 || at + 2 !== b.length) return undefined
  return { nodes, nodeCount, values }
}

function startsWith(b: Buffer, at: number, prefix: Buffer): boolean {
  if (at + prefix.length > b.length) return false
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix[i]) return false
  return true
}
