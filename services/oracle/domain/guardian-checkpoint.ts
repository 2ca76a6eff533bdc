/**
 * The guardian's checkpoint: the block its scan of `EpochProposed` events starts at after a
 * restart, and the bad roots that went final before it could reject them (an alarm a restart must
 * not forget). Pure: the guardian writes it to a file of its own (GRIDROOT_ORACLE_GUARDIAN_CHECKPOINT).
 *
 * Invariant: every proposal before `nextBlock` is settled (rejected, or final and checked), so a
 * restart rescans from the oldest proposal still open and can neither skip one nor need anything
 * else remembered; the proposals after it are decided again from chain state, and a second
 * `reject` of one already rejected reverts (NotPending) without effect. A checkpoint of another
 * chain or contract (a redeploy, a reset anvil) is ignored: the scan starts at the deployment.
 */
import { z } from 'zod'
import { GridrootError } from '../../../core/errors/base.ts'

export const CHECKPOINT_FORMAT = 'gridroot.guardian-checkpoint.v1'

const BadFinalRootSchema = z.object({
  poolId: z.string(),
  epoch: z.number().int().nonnegative(),
  attempt: z.number().int().nonnegative(),
  root: z.string(),
  reason: z.string(),
  detail: z.string(),
  seenAt: z.string(),
})
export type BadFinalRoot = z.infer<typeof BadFinalRootSchema>

const CheckpointSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  chainId: z.number().int(),
  oracle: z.string().regex(/^0x[0-9a-f]{40}$/),
  deployedAtBlock: z.string().regex(/^\d+$/),
  nextBlock: z.string().regex(/^\d+$/),
  badFinalRoots: z.array(BadFinalRootSchema),
})

export interface GuardianCheckpoint {
  readonly chainId: number
  /** RevenueOracle's address, lowercase. */
  readonly oracle: string
  readonly deployedAtBlock: bigint
  /** The first block the next scan reads. */
  readonly nextBlock: bigint
  readonly badFinalRoots: readonly BadFinalRoot[]
}

export class CheckpointInvalidError extends GridrootError<'GUARDIAN_CHECKPOINT_INVALID'> {
  override readonly name = 'CheckpointInvalidError'
  constructor(detail: string) {
    super('GUARDIAN_CHECKPOINT_INVALID', `the guardian checkpoint does not read: ${detail}`, {
      metaMessages: [
        'Delete the file (GRIDROOT_ORACLE_GUARDIAN_CHECKPOINT) to scan from the deployment block again.',
      ],
    })
  }
}

export function encodeCheckpoint(c: GuardianCheckpoint): string {
  return `${JSON.stringify(
    {
      format: CHECKPOINT_FORMAT,
      chainId: c.chainId,
      oracle: c.oracle.toLowerCase(),
      deployedAtBlock: c.deployedAtBlock.toString(),
      nextBlock: c.nextBlock.toString(),
      badFinalRoots: c.badFinalRoots,
    },
    null,
    1,
  )}\n`
}

export function decodeCheckpoint(text: string): GuardianCheckpoint {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new CheckpointInvalidError(error instanceof Error ? error.message : String(error))
  }
  const parsed = CheckpointSchema.safeParse(json)
  if (!parsed.success) throw new CheckpointInvalidError(parsed.error.issues[0]?.message ?? 'invalid')
  const c = parsed.data
  return {
    chainId: c.chainId,
    oracle: c.oracle,
    deployedAtBlock: BigInt(c.deployedAtBlock),
    nextBlock: BigInt(c.nextBlock),
    badFinalRoots: c.badFinalRoots,
  }
}

/**
 * Where the scan starts: the checkpoint's block when it is of this chain and deployment and not
 * beyond the chain's head, else the deployment block. (A checkpoint of this deployment is never
 * before its block: it starts there and only moves on.)
 */
export function scanStart(
  checkpoint: GuardianCheckpoint | undefined,
  here: {
    readonly chainId: number
    readonly oracle: string
    readonly deployedAtBlock: bigint
    readonly headBlock: bigint
  },
): { readonly fromBlock: bigint; readonly resumed: boolean; readonly why: string } {
  if (!checkpoint) return { fromBlock: here.deployedAtBlock, resumed: false, why: 'no checkpoint' }
  if (
    checkpoint.chainId !== here.chainId ||
    checkpoint.oracle !== here.oracle.toLowerCase() ||
    checkpoint.deployedAtBlock !== here.deployedAtBlock
  )
    return {
      fromBlock: here.deployedAtBlock,
      resumed: false,
      why: `the checkpoint is of chain ${checkpoint.chainId} oracle ${checkpoint.oracle} deployed at block ${checkpoint.deployedAtBlock}`,
    }
  if (checkpoint.nextBlock > here.headBlock + 1n)
    return {
      fromBlock: here.deployedAtBlock,
      resumed: false,
      why: `the checkpoint's block ${checkpoint.nextBlock} is beyond the chain's head ${here.headBlock} (a reset chain)`,
    }
  return { fromBlock: checkpoint.nextBlock, resumed: true, why: 'checkpoint' }
}

/** The next checkpoint block: the oldest open proposal's block, or the block after the scan. */
export function nextCheckpointBlock(scannedThrough: bigint, openProposalBlocks: Iterable<bigint>): bigint {
  let next = scannedThrough + 1n
  for (const b of openProposalBlocks) if (b < next) next = b
  return next
}
