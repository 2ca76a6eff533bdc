import { describe, expect, it } from 'vitest'
import { artifactMissingProblem, nextMissing } from './artifact-wait.ts'

const tree = { epoch: 7, artifact: 'device tree' as const, hash: `0x${'ab'.repeat(32)}` as const }

describe('artifact wait', () => {
  it('keeps the start of a wait while the same artifact is missing, and starts again for another', () => {
    const first = nextMissing(undefined, tree, 1_000)
    expect(nextMissing(first, tree, 9_000).sinceMs).toBe(1_000)
    const archive = { ...tree, artifact: 'readings archive' as const, hash: `0x${'cd'.repeat(32)}` as const }
    expect(nextMissing(first, archive, 9_000)).toEqual({ ...archive, sinceMs: 9_000 })
    expect(nextMissing(first, { ...tree, epoch: 8 }, 9_000).sinceMs).toBe(9_000)
  })

  it('is ARTIFACT_MISSING naming pool, epoch and hash once the wait reaches its bound (F6), not before', () => {
    const missing = nextMissing(undefined, tree, 0)
    expect(artifactMissingProblem('gcl-pv', missing, 299_999, 300_000)).toBeUndefined()
    const problem = artifactMissingProblem('gcl-pv', missing, 300_000, 300_000)
    expect(problem).toMatchObject({
      code: 'ARTIFACT_MISSING',
      pool: 'gcl-pv',
      epoch: 7,
      artifact: 'device tree',
      hash: tree.hash,
      missingForMs: 300_000,
    })
    expect(problem?.message).toContain(`pool gcl-pv epoch 7 is final, but its device tree ${tree.hash}`)
    expect(artifactMissingProblem('gcl-pv', undefined, 1e9, 300_000)).toBeUndefined()
  })
})
