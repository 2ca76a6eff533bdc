import type { Hex } from 'viem'
import { MerkleLeafInvalidError } from './errors.ts'

/** Pool ids as they go on-chain: ASCII, left-aligned in a bytes32, zero-padded. */
export const POOL_ID_PATTERN = /^[a-z0-9-]{1,31}$/

/**
 * The bytes32 of a pool id, as viem's `stringToHex(id, { size: 32 })` and Solidity's
 * `bytes32("pool-a")` give it. At most 31 characters, so the last byte is always zero and no id
 * is a prefix-collision of another.
 */
export function poolIdToBytes32(poolId: string): Hex {
  if (!POOL_ID_PATTERN.test(poolId))
    throw new MerkleLeafInvalidError('poolId', `must match ${POOL_ID_PATTERN}, got ${JSON.stringify(poolId)}`)
  return `0x${Buffer.from(poolId, 'latin1').toString('hex').padEnd(64, '0')}`
}

/** The pool id a bytes32 holds (inverse of `poolIdToBytes32`). */
export function poolIdFromBytes32(word: Hex): string {
  if (!/^0x[0-9a-f]{64}$/i.test(word)) throw new MerkleLeafInvalidError('poolId', `is not a bytes32: ${word}`)
  const bytes = Buffer.from(word.slice(2), 'hex')
  const end = bytes.indexOf(0)
  const poolId = bytes.subarray(0, end < 0 ? 32 : end).toString('latin1')
  if (!POOL_ID_PATTERN.test(poolId) || bytes.subarray(poolId.length).some((b) => b !== 0))
    throw new MerkleLeafInvalidError('poolId', `bytes32 ${word} is not an encoded pool id`)
  return poolId
}
