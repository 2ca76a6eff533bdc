import { describe, expect, it } from 'vitest'
import { receivedAtMsOf } from './telemetry-record.ts'

describe('receivedAtMsOf', () => {
  it('reads the record timestamp ingest set', () => {
    expect(receivedAtMsOf('1780000000123')).toBe(1_780_000_000_123)
  })
  it('has no receive time for a record without a timestamp', () => {
    for (const missing of ['-1', '0', '', 'NaN', 'abc', undefined, '1.5']) {
      expect(receivedAtMsOf(missing), String(missing)).toBeUndefined()
    }
  })
})
