import { describe, expect, it } from 'vitest'
import { StoreHealth } from './store-health.ts'

describe('StoreHealth', () => {
  it('is unhealthy while a request waits past the stuck bound, and again fine once it is answered', async () => {
    let now = 0
    const health = new StoreHealth(10_000, () => now)
    let answer: () => void = () => undefined
    const request = health.track('load device states', () => new Promise<void>((r) => (answer = r)))
    now = 9_999
    expect(health.status().ok).toBe(true)
    now = 10_000
    expect(health.status()).toMatchObject({
      ok: false,
      oldestWaiting: { operation: 'load device states', waitingMs: 10_000 },
    })
    answer()
    await request
    expect(health.status()).toEqual({ ok: true, failing: null, oldestWaiting: null })
  })

  it('stays unhealthy after a failure until a request succeeds; a refusal of the lines or our own abort is no store failure', async () => {
    const health = new StoreHealth(10_000, () => 0)
    await expect(
      health.track('influx write', () => Promise.reject(new Error('ECONNREFUSED'))),
    ).rejects.toThrow()
    expect(health.status()).toMatchObject({ ok: false, failing: { operation: 'influx write' } })
    const aborted = AbortSignal.abort()
    await expect(
      health.track('influx write', () => Promise.reject(new Error('aborted')), { signal: aborted }),
    ).rejects.toThrow()
    expect(health.healthy).toBe(false)
    await expect(
      health.track('influx write', () => Promise.reject(new Error('400')), { answered: () => true }),
    ).rejects.toThrow()
    expect(health.healthy).toBe(true)
    await expect(health.track('influx write', () => Promise.reject(new Error('503')))).rejects.toThrow()
    expect(health.healthy).toBe(false)
    await health.track('load watermarks', () => Promise.resolve([]))
    expect(health.healthy).toBe(true)
  })
})
