import { GridrootError } from '../errors/base.ts'

/**
 * Stable codes of the Merkle library. `MERKLE_LEAF_INVALID`: a leaf field is out of its ABI
 * type's range or malformed. `MERKLE_DUPLICATE_LEAF`: two leaves share their key (deviceId,
 * account), which would let one be paid twice. `MERKLE_DUMP_INVALID`: a published tree does not
 * parse or does not hash to what it claims.
 */
export type MerkleErrorCode = 'MERKLE_LEAF_INVALID' | 'MERKLE_DUPLICATE_LEAF' | 'MERKLE_DUMP_INVALID'

export class MerkleLeafInvalidError extends GridrootError<'MERKLE_LEAF_INVALID'> {
  override readonly name = 'MerkleLeafInvalidError'
  constructor(field: string, detail: string) {
    super('MERKLE_LEAF_INVALID', `leaf field ${field} ${detail}`, {
      metaMessages: [
        'Fix the value at its source (epoch totals, registry, balances); leaves are never clamped.',
      ],
      details: { field },
    })
  }
}

export class MerkleDuplicateLeafError extends GridrootError<'MERKLE_DUPLICATE_LEAF'> {
  override readonly name = 'MerkleDuplicateLeafError'
  constructor(key: string) {
    super('MERKLE_DUPLICATE_LEAF', `two leaves have the key ${key}`, {
      metaMessages: ['Merge the entries first: a tree holds one leaf per device (or account).'],
      details: { key },
    })
  }
}

export class MerkleDumpInvalidError extends GridrootError<'MERKLE_DUMP_INVALID'> {
  override readonly name = 'MerkleDumpInvalidError'
  constructor(detail: string, cause?: unknown) {
    super('MERKLE_DUMP_INVALID', `the published tree is invalid: ${detail}`, {
      metaMessages: ['Fetch the tree again by its hash; a tree that fails this check must not be trusted.'],
      cause,
    })
  }
}
