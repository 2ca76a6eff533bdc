import { describe, expect, it } from 'vitest'
import { classifyError, retry } from '../../../runtime/retry.ts'
import { isFinalRefusal, SourceNotReadyError } from './refusal.ts'

describe('refusal finality', () => {
  it('a source that is not ready is retried; a disagreement is final', () => {
    expect(isFinalRefusal('SOURCE_NOT_READY')).toBe(false)
    for (const reason of ['ANNOUNCEMENT_MISMATCH', 'READINGS_MISMATCH', 'ARTIFACT_STORE', 'ANYTHING_NEW'])
      expect(isFinalRefusal(reason)).toBe(true)
    const error = new SourceNotReadyError(3, [1, 4], 120_000)
    expect(classifyError(error)).toBe('retry')
    expect(error.code).toBe('SOURCE_NOT_READY')
    expect(error.shortMessage).toContain('partitions behind: 1, 4')
  })

  it('the shared retry helper keeps waiting on it, with bounded back-off, until the source is ready', async () => {
    const delays: number[] = []
    let attempts = 0
    const result = await retry(
      async () => {
        attempts++
        if (attempts < 6) throw new SourceNotReadyError(0, [2], 10)
        return 'ready'
      },
      {
        operation: 'wait',
        initialDelayMs: 1,
        maxDelayMs: 4,
        onRetry: ({ delayMs }) => void delays.push(delayMs),
      },
    )
    expect(result).toBe('ready')
    expect(attempts).toBe(6)
    // Doubling from 1 ms, never above 4 ms plus the 25 % jitter.
    expect(delays.length).toBe(5)
    expect(Math.max(...delays)).toBeLessThanOrEqual(5)
  })
})
