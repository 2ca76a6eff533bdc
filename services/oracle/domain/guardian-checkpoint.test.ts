import { describe, expect, it } from 'vitest'
import {
  CheckpointInvalidError,
  decodeCheckpoint,
  encodeCheckpoint,
  type GuardianCheckpoint,
  nextCheckpointBlock,
  scanStart,
} from './guardian-checkpoint.ts'

const here = {
  chainId: 31337,
  oracle: '0xAbCd000000000000000000000000000000000001',
  deployedAtBlock: 5n,
  headBlock: 100n,
}
const checkpoint: GuardianCheckpoint = {
  chainId: 31337,
  oracle: '0xabcd000000000000000000000000000000000001',
  deployedAtBlock: 5n,
  nextBlock: 42n,
  badFinalRoots: [
    {
      poolId: 'p',
      epoch: 3,
      attempt: 0,
      root: `0x${'ab'.repeat(32)}`,
      reason: 'ROOT_MISMATCH',
      detail: 'd',
      seenAt: '2026-06-01T00:00:00.000Z',
    },
  ],
}

describe('guardian checkpoint', () => {
  it('round-trips, and refuses what it did not write', () => {
    expect(decodeCheckpoint(encodeCheckpoint(checkpoint))).toEqual(checkpoint)
    expect(() => decodeCheckpoint('{')).toThrow(CheckpointInvalidError)
    expect(() => decodeCheckpoint(JSON.stringify({ format: 'x' }))).toThrow(CheckpointInvalidError)
  })

  it('resumes at its block on the same chain and deployment, else starts at the deployment', () => {
    expect(scanStart(checkpoint, here)).toMatchObject({ fromBlock: 42n, resumed: true })
    expect(scanStart(undefined, here)).toMatchObject({ fromBlock: 5n, resumed: false })
    expect(scanStart({ ...checkpoint, deployedAtBlock: 7n }, here)).toMatchObject({
      fromBlock: 5n,
      resumed: false,
    })
    expect(scanStart({ ...checkpoint, chainId: 1 }, here)).toMatchObject({ resumed: false })
    expect(
      scanStart({ ...checkpoint, oracle: '0x0000000000000000000000000000000000000002' }, here),
    ).toMatchObject({
      resumed: false,
    })
    // A reset chain behind the checkpoint.
    expect(scanStart(checkpoint, { ...here, headBlock: 20n })).toMatchObject({
      fromBlock: 5n,
      resumed: false,
    })
  })

  it('never passes an open proposal', () => {
    expect(nextCheckpointBlock(100n, [])).toBe(101n)
    expect(nextCheckpointBlock(100n, [77n, 90n])).toBe(77n)
    expect(nextCheckpointBlock(100n, [100n])).toBe(100n)
  })
})
