import { describe, expect, it } from 'vitest'
import { shared } from './context.ts'

describe('shared', () => {
  it('shares one read in flight, and keeps its value for the TTL counted from when it arrived', async () => {
    let clock = 0
    let reads = 0
    let finish: (v: number) => void = () => {}
    const read = shared(
      () => {
        reads++
        return new Promise<number>((resolve) => {
          finish = resolve
        })
      },
      2_000,
      () => clock,
    )
    const a = read()
    clock = 5_000 // the read takes longer than the TTL
    const b = read()
    expect(reads).toBe(1)
    finish(7)
    expect(await a).toBe(7)
    expect(await b).toBe(7)
    clock = 6_999 // 1,999 ms after it arrived: still fresh
    expect(await read()).toBe(7)
    expect(reads).toBe(1)
    clock = 7_001
    const c = read()
    expect(reads).toBe(2)
    finish(8)
    expect(await c).toBe(8)
  })

  it('does not keep a failed read', async () => {
    let reads = 0
    const read = shared(
      async () => {
        reads++
        if (reads === 1) throw new Error('down')
        return reads
      },
      2_000,
      () => 0,
    )
    await expect(read()).rejects.toThrow('down')
    expect(await read()).toBe(2)
  })
})
