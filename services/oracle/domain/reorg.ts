/**
 * Whether the chain reorganized since the last look. Pure.
 *
 * A block's hash at a number the service saw before is the marker: if the block at that number
 * now has another hash, or the chain no longer reaches that number, the blocks after some
 * common ancestor were replaced, and what the service read from them (an epoch final or pending,
 * an attempt) may be undone. Block 0 alone (runtime/chain/deployment-watch.ts) only tells a new
 * chain: `evm_snapshot`/`evm_revert` on anvil, or a reorg on a real chain, keep block 0 and were
 * not seen (attack10 F8). Each look remembers the head, so a reorg is seen by the next look at
 * the latest, whatever its depth.
 */
import type { Hex } from './proposal.ts'

export const CHAIN_REORG = 'CHAIN_REORG'

export interface BlockMark {
  readonly number: bigint
  readonly hash: Hex
}

export interface Reorg {
  readonly code: typeof CHAIN_REORG
  /** The block remembered from the last look. */
  readonly was: BlockMark
  /** The block at that number now; undefined when the chain is shorter now. */
  readonly now: BlockMark | undefined
  /** The head now. */
  readonly head: BlockMark
  readonly message: string
}

/**
 * @param remembered the head at the last look (undefined: the first look)
 * @param atRemembered the block at `remembered.number` now (undefined: beyond the head)
 * @param head the head now (remembered next)
 */
export function judgeReorg(
  remembered: BlockMark | undefined,
  atRemembered: BlockMark | undefined,
  head: BlockMark,
): Reorg | undefined {
  if (!remembered) return undefined
  if (atRemembered && atRemembered.hash.toLowerCase() === remembered.hash.toLowerCase()) return undefined
  return {
    code: CHAIN_REORG,
    was: remembered,
    now: atRemembered,
    head,
    message: atRemembered
      ? `the chain reorganized: block ${remembered.number} was ${remembered.hash} and is ${atRemembered.hash} now (head ${head.number})`
      : `the chain reorganized: block ${remembered.number} (${remembered.hash}) is gone, the head is ${head.number} now`,
  }
}
