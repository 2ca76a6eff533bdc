/**
 * OpenZeppelin's StandardMerkleTree layout (leaves double-hashed, sorted by hash, stored from the
 * end of a 2n-1 array; sorted-pair parents), built with viem's keccak on bytes: the benchmarks
 * need 100k-leaf trees, which StandardMerkleTree itself takes ~70 s for here. Until core/merkle
 * lands; fast-tree.test.ts checks it against StandardMerkleTree.
 */
import {
  type AbiParameter,
  bytesToHex,
  concatBytes,
  encodeAbiParameters,
  type Hex,
  hexToBytes,
  keccak256,
} from 'viem'

export interface FastTree {
  readonly root: Hex
  /** Proof of the i-th value as given (not the sorted position). */
  proof(valueIndex: number): Hex[]
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number)
  return 0
}

export function buildTree(values: readonly (readonly unknown[])[], types: readonly AbiParameter[]): FastTree {
  const leaves = values.map((v, valueIndex) => ({
    hash: keccak256(keccak256(hexToBytes(encodeAbiParameters(types, v as never)), 'bytes'), 'bytes'),
    valueIndex,
  }))
  leaves.sort((a, b) => compare(a.hash, b.hash))
  const n = 2 * leaves.length - 1
  const nodes: Uint8Array[] = new Array(n)
  const positionOf = new Int32Array(leaves.length)
  leaves.forEach((leaf, i) => {
    nodes[n - 1 - i] = leaf.hash
    positionOf[leaf.valueIndex] = n - 1 - i
  })
  for (let i = n - 1 - leaves.length; i >= 0; i--) {
    const a = nodes[2 * i + 1] as Uint8Array
    const b = nodes[2 * i + 2] as Uint8Array
    nodes[i] = keccak256(compare(a, b) <= 0 ? concatBytes([a, b]) : concatBytes([b, a]), 'bytes')
  }
  return {
    root: bytesToHex(nodes[0] as Uint8Array),
    proof(valueIndex) {
      const proof: Hex[] = []
      let i = positionOf[valueIndex] as number
      while (i > 0) {
        const sibling = i % 2 === 1 ? i + 1 : i - 1
        proof.push(bytesToHex(nodes[sibling] as Uint8Array))
        i = Math.floor((i - 1) / 2)
      }
      return proof
    },
  }
}

export const HOLDER_LEAF_TYPES = [{ type: 'bytes32' }, { type: 'address' }, { type: 'uint256' }] as const
