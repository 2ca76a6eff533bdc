import { describe, expect, it } from 'vitest'
import { chainHealth } from './chain-health.ts'

describe('submitter chain health', () => {
  const base = { lastPassOk: true, passStartedAtMs: undefined, nowMs: 100_000, stallMs: 30_000 }
  it('is healthy between good passes and during a short one', () => {
    expect(chainHealth(base).healthy).toBe(true)
    expect(chainHealth({ ...base, passStartedAtMs: 80_000 }).healthy).toBe(true)
  })
  it('is unhealthy after a failed pass, and while a pass hangs on the chain', () => {
    expect(chainHealth({ ...base, lastPassOk: false }).healthy).toBe(false)
    const hung = chainHealth({ ...base, passStartedAtMs: 60_000 })
    expect(hung.healthy).toBe(false)
    expect(hung.detail).toContain('waiting on the chain for 40 s')
  })
})
