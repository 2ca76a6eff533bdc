/**
 * OpenZeppelin StandardMerkleTree-compatible trees, built in WebAssembly.
 *
 * Layout (as @openzeppelin/merkle-tree's `makeMerkleTree`): leaf hashes sorted ascending, the
 * tree a flat array of 2n-1 nodes of 32 bytes, node i = hash of the sorted pair (2i+1, 2i+2),
 * the leaf of rank r at slot 2n-2-r, the root at slot 0. So `StandardMerkleTree.load` of our
 * dump gives the same root and proofs, and `MerkleProof.verify` accepts the proofs.
 *
 * Canonical order: the leaves are ordered by their hash, so the same set of leaves gives the same
 * root, the same node array and the same dump bytes whatever order they came in. `leaves[i]` is
 * the leaf of rank i (the dump's `values` order).
 *
 * The empty tree (an epoch with no leaves) has root 0x00…00 and leafCount 0: no keccak output is
 * zero in practice, so it stands for "nothing", and OpenZeppelin's library refuses empty trees.
 */
import type { Hex } from 'viem'
import { bytesToHex } from './abi-words.ts'
import { MerkleDuplicateLeafError, MerkleLeafInvalidError } from './errors.ts'
import { hashPairBytes, keccak256Bytes, keccakInstanceFor } from './keccak.ts'
import { ParallelLeafHasher, parallelHashingAvailable, scratchBytes, WorkersFailed } from './leaf-hasher.ts'
import { encodeLeaf, type LeafLayout } from './leaves.ts'
import * as radix from './radix-order.ts'

export const EMPTY_ROOT: Hex = `0x${'00'.repeat(32)}`

const LEAVES_PER_CHUNK = 16_384
// local copies: see leaves.ts on imported bindings in hot loops
const { fnv1a32, radixOrder } = radix

/**
 * Every leaf's proof at once, as index arithmetic into the tree's flat node buffer: proof `rank`
 * is the nodes at the slots `slots(rank, out)` writes (leaf to root), 32 bytes each at
 * `32 * slot` in `tree.nodes`. Nothing is copied per proof; `proofAt` materializes one as hex.
 */
export interface ProofSet {
  readonly leafCount: number
  /** Number of nodes in proof `rank`. */
  length(rank: number): number
  /** Writes the tree slots of proof `rank` into `out` (32 entries always suffice); returns how many. */
  slots(rank: number, out: Uint32Array): number
}

export interface MerkleTree<L> {
  readonly layout: LeafLayout<L>
  readonly leafCount: number
  readonly root: Hex
  /** Leaves in canonical (rank) order. */
  readonly leaves: readonly L[]
  /** 2n-1 nodes of 32 bytes, OpenZeppelin's layout (empty for the empty tree). */
  readonly nodes: Uint8Array
  /** Tree slot of the leaf of rank i: 2n-2-i. */
  treeIndex(rank: number): number
  leafHash(rank: number): Hex
  /** The proof of the leaf of rank i, leaf to root, as `MerkleProof.verify` takes it. */
  proof(rank: number): Hex[]
  /** Rank of the leaf with this key (deviceId, lowercase account), if present. */
  rankOf(key: string): number | undefined
  /** Every proof, as slots of `nodes` (materialize one with `proofAt`). */
  proofs(): ProofSet
}

/** Builds the tree of `leaves` (any order; duplicates by key and mixed scopes are refused). */
export function buildTree<L>(
  layout: LeafLayout<L>,
  leaves: readonly L[],
  options: BuildOptions = {},
): MerkleTree<L> {
  return buildTreeWithOrder(layout, leaves, options).tree
}

export interface BuildOptions {
  /**
   * Hash leaves on worker threads too when the tree is large enough (default). The result is
   * the same either way; `false` keeps the work on this thread.
   */
  readonly parallel?: boolean
}

/** Like `buildTree`, also telling which input leaf got each rank (`inputIndexOfRank[rank]`). */
export function buildTreeWithOrder<L>(
  layout: LeafLayout<L>,
  leaves: readonly L[],
  options: BuildOptions = {},
): { tree: MerkleTree<L>; inputIndexOfRank: Uint32Array } {
  const n = leaves.length
  if (n === 0) return { tree: makeTree(layout, [], new Uint8Array(0)), inputIndexOfRank: new Uint32Array(0) }
  const lengths = checkScopeAndMeasure(layout, leaves)

  // Leaves are encoded and hashed a chunk at a time: a million device leaves encode to 288 MB,
  // a chunk of 16k to under 5 MB. Working memory: [scratch for one chunk][leaf hashes 32n]
  // [order 4n][nodes 32(2n-1)].
  const chunks = Math.ceil(n / LEAVES_PER_CHUNK)
  let chunkBytes = 0
  for (let start = 0; start < n; start += LEAVES_PER_CHUNK) {
    let bytes = 0
    for (let i = start; i < Math.min(n, start + LEAVES_PER_CHUNK); i++) bytes += lengths[i]!
    chunkBytes = Math.max(chunkBytes, bytes)
  }
  const hashesAt = align8(scratchBytes(LEAVES_PER_CHUNK, chunkBytes))
  const orderAt = hashesAt + 32 * n
  const nodesAt = align8(orderAt + 4 * n)
  const length = nodesAt + 32 * (2 * n - 1)
  const k = keccakInstanceFor(length)
  let mem = k.reserve(length)
  const base = k.heapBase

  let hashed = false
  let keysChecked = false
  if (options.parallel !== false && parallelHashingAvailable(chunks)) {
    const hasher = new ParallelLeafHasher(k, base, chunks, LEAVES_PER_CHUNK, chunkBytes, n)
    try {
      for (let c = 0; c < chunks; c++) {
        const start = c * LEAVES_PER_CHUNK
        const count = Math.min(n - start, LEAVES_PER_CHUNK)
        const slot = hasher.slot(c)
        const offsets = new Uint32Array(slot.buffer, slot.byteOffset, count + 1)
        encodeChunk(layout, leaves, lengths, start, count, slot, hasher.offsetBytes, offsets)
        hasher.submit(c, count)
      }
      // while the workers hash the last chunks
      checkUniqueKeys(layout, leaves)
      keysChecked = true
      hasher.finish(base + hashesAt)
      hashed = true
    } catch (error) {
      hasher.abort()
      if (!(error instanceof WorkersFailed)) throw error
    }
    mem = k.reserve(length)
  }
  if (!hashed) {
    const target = Buffer.from(mem.buffer, 0, mem.length)
    const offsetsAt = base
    const dataAt = base + 8 * Math.ceil((4 * (LEAVES_PER_CHUNK + 1)) / 8)
    const offsets = new Uint32Array(mem.buffer, offsetsAt, LEAVES_PER_CHUNK + 1)
    for (let start = 0; start < n; start += LEAVES_PER_CHUNK) {
      const count = Math.min(n - start, LEAVES_PER_CHUNK)
      mem.fill(0, dataAt, dataAt + chunkBytes)
      encodeChunk(layout, leaves, lengths, start, count, target, dataAt, offsets)
      k.leafHashes(dataAt, offsetsAt, count, base + hashesAt + 32 * start)
    }
    if (!keysChecked) checkUniqueKeys(layout, leaves)
  }

  const inputIndexOfRank = rankByHash(mem, base + hashesAt, n)
  new Uint32Array(mem.buffer, base + orderAt, n).set(inputIndexOfRank)
  k.placeLeaves(base + hashesAt, base + orderAt, n, base + nodesAt)
  k.buildTree(base + nodesAt, n)
  const nodes = mem.slice(base + nodesAt, base + nodesAt + 32 * (2 * n - 1))
  const ranked = new Array<L>(n)
  for (let rank = 0; rank < n; rank++) ranked[rank] = leaves[inputIndexOfRank[rank]!]!
  return { tree: makeTree(layout, ranked, nodes), inputIndexOfRank }
}

/** Writes the encodings of leaves [start, start + count) at `dataAt` (zeroed), offsets relative to it. */
function encodeChunk<L>(
  layout: LeafLayout<L>,
  leaves: readonly L[],
  lengths: Uint32Array,
  start: number,
  count: number,
  target: Buffer,
  dataAt: number,
  offsets: Uint32Array,
): void {
  let at = 0
  for (let i = 0; i < count; i++) {
    offsets[i] = at
    layout.write(leaves[start + i]!, target, dataAt + at)
    at += lengths[start + i]!
  }
  offsets[count] = at
}

function align8(x: number): number {
  return (x + 7) & ~7
}

/** Checks that all leaves share the first one's scope; returns each leaf's encoded length. */
function checkScopeAndMeasure<L>(layout: LeafLayout<L>, leaves: readonly L[]): Uint32Array {
  const n = leaves.length
  const first = leaves[0]!
  const lengths = new Uint32Array(n)
  for (let i = 0; i < n; i++) {
    const leaf = leaves[i]!
    if (!layout.sameScope(first, leaf))
      throw new MerkleLeafInvalidError(
        'scope',
        `mixes ${layout.scope(first)} and ${layout.scope(leaf)} in one ${layout.kind} tree`,
      )
    lengths[i] = layout.encodedLength(leaf)
  }
  return lengths
}

function checkUniqueKeys<L>(layout: LeafLayout<L>, leaves: readonly L[]): void {
  const n = leaves.length
  const hashes = new Uint32Array(n)
  for (let i = 0; i < n; i++) hashes[i] = fnv1a32(layout.key(leaves[i]!))
  // A Set of a million strings costs ~2 s here; equal keys have equal hashes, so sort by hash
  // and compare the few neighbours that share one.
  const order = radixOrder(hashes)
  for (let start = 0; start < n; ) {
    let end = start + 1
    const h = hashes[order[start]!]!
    while (end < n && hashes[order[end]!] === h) end++
    for (let a = start; a < end; a++) {
      const key = layout.key(leaves[order[a]!]!)
      for (let b = a + 1; b < end; b++)
        if (layout.key(leaves[order[b]!]!) === key) throw new MerkleDuplicateLeafError(key)
    }
    start = end
  }
}

/**
 * Input indices in ascending order of their 32-byte hashes: a radix order of the first 32 bits,
 * then the runs that tie on them (a few hundred pairs among a million) sorted in full.
 */
function rankByHash(mem: Uint8Array, hashesAt: number, n: number): Uint32Array {
  const prefixes = new Uint32Array(n)
  for (let i = 0; i < n; i++) {
    const p = hashesAt + 32 * i
    prefixes[i] = ((mem[p]! << 24) | (mem[p + 1]! << 16) | (mem[p + 2]! << 8) | mem[p + 3]!) >>> 0
  }
  const order = radixOrder(prefixes)
  const compareFull = (a: number, b: number): number => {
    for (let j = 4; j < 32; j++) {
      const d = mem[hashesAt + 32 * a + j]! - mem[hashesAt + 32 * b + j]!
      if (d !== 0) return d
    }
    return 0
  }
  for (let start = 0; start < n; ) {
    let end = start + 1
    const p = prefixes[order[start]!]!
    while (end < n && prefixes[order[end]!] === p) end++
    if (end - start > 1) order.set(Array.from(order.subarray(start, end)).sort(compareFull), start)
    start = end
  }
  return order
}

function makeTree<L>(layout: LeafLayout<L>, leaves: L[], nodes: Uint8Array): MerkleTree<L> {
  const n = leaves.length
  let byKey: Map<string, number> | undefined
  const treeIndex = (rank: number): number => {
    if (!Number.isInteger(rank) || rank < 0 || rank >= n) throw new RangeError(`no leaf of rank ${rank}`)
    return 2 * n - 2 - rank
  }
  return {
    layout,
    leafCount: n,
    root: n === 0 ? EMPTY_ROOT : bytesToHex(nodes, 0, 32),
    leaves,
    nodes,
    treeIndex,
    leafHash: (rank) => bytesToHex(nodes, 32 * treeIndex(rank), 32),
    proof(rank) {
      const proof: Hex[] = []
      for (let j = treeIndex(rank); j > 0; j = (j - 1) >> 1)
        proof.push(bytesToHex(nodes, 32 * siblingOf(j), 32))
      return proof
    },
    rankOf(key) {
      if (!byKey) {
        byKey = new Map()
        for (let rank = 0; rank < n; rank++) byKey.set(layout.key(leaves[rank]!), rank)
      }
      return byKey.get(key)
    },
    proofs: () => allProofs(n),
  }
}

function siblingOf(slot: number): number {
  return slot & 1 ? slot + 1 : slot - 1
}

/** Depth of tree slot j (the root has depth 0): floor(log2(j + 1)). */
function depthOf(slot: number): number {
  return 31 - Math.clz32(slot + 1)
}

function allProofs(n: number): ProofSet {
  const slotOf = (rank: number): number => {
    if (!Number.isInteger(rank) || rank < 0 || rank >= n) throw new RangeError(`no leaf of rank ${rank}`)
    return 2 * n - 2 - rank
  }
  return {
    leafCount: n,
    length: (rank) => depthOf(slotOf(rank)),
    slots(rank, out) {
      let count = 0
      for (let j = slotOf(rank); j > 0; j = (j - 1) >> 1) out[count++] = siblingOf(j)
      return count
    },
  }
}

/** Proof `rank` of a ProofSet as hex nodes. */
export function proofAt(tree: MerkleTree<unknown>, set: ProofSet, rank: number): Hex[] {
  const slots = new Uint32Array(32)
  const count = set.slots(rank, slots)
  const proof: Hex[] = new Array(count)
  for (let i = 0; i < count; i++) proof[i] = bytesToHex(tree.nodes, 32 * slots[i]!, 32)
  return proof
}

/** The standard leaf hash of one leaf: keccak256(keccak256(abi.encode(...))). */
export function leafHashOf<L>(layout: LeafLayout<L>, leaf: L): Hex {
  return bytesToHex(keccak256Bytes(keccak256Bytes(encodeLeaf(layout, leaf))))
}

/** Folds a proof onto a leaf hash as OpenZeppelin's `MerkleProof.processProof` does. */
export function processProof(leafHash: Hex, proof: readonly Hex[]): Hex {
  let node = hexToBytes32(leafHash)
  for (const sibling of proof) node = hashPairBytes(node, hexToBytes32(sibling))
  return bytesToHex(node)
}

/** `MerkleProof.verify`: does the proof take this leaf hash to the root? */
export function verifyProof(root: Hex, leafHash: Hex, proof: readonly Hex[]): boolean {
  return processProof(leafHash, proof) === root.toLowerCase()
}

function hexToBytes32(hex: Hex): Uint8Array {
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new MerkleLeafInvalidError('node', `is not a bytes32: ${hex}`)
  return Buffer.from(hex.slice(2), 'hex')
}
