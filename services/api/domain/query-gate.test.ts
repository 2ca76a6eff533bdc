import { describe, expect, it } from 'vitest'
import { ApiError } from '../errors.ts'
import { createQueryGate } from './query-gate.ts'

describe('createQueryGate', () => {
  it('runs at most `concurrency` queries, queues `queue` more and refuses the rest as API_BUSY', async () => {
    const gate = createQueryGate({ concurrency: 2, queue: 3 })
    const finish: Array<() => void> = []
    const slow = () => new Promise<string>((resolve) => finish.push(() => resolve('ok')))
    const results = Array.from({ length: 10 }, () =>
      gate.run(slow).then(
        (v) => v,
        (e: unknown) => e,
      ),
    )
    await Promise.resolve()
    expect(gate.stats()).toEqual({ running: 2, waiting: 3, maxRunning: 2 })
    while (gate.stats().running > 0) {
      finish.shift()?.()
      await new Promise((r) => setTimeout(r, 0))
    }
    const settled = await Promise.all(results)
    expect(settled.filter((r) => r === 'ok')).toHaveLength(5)
    const refused = settled.filter((r) => r instanceof ApiError) as ApiError[]
    expect(refused).toHaveLength(5)
    expect(refused.every((e) => e.code === 'API_BUSY' && e.statusCode === 503)).toBe(true)
    expect(gate.stats()).toEqual({ running: 0, waiting: 0, maxRunning: 2 })
  })

  it('frees its slot when a query fails', async () => {
    const gate = createQueryGate({ concurrency: 1, queue: 0 })
    await expect(gate.run(() => Promise.reject(new Error('down')))).rejects.toThrow('down')
    expect(await gate.run(async () => 7)).toBe(7)
  })
})

describe('createQueryGate with a signal', () => {
  it('lets a waiting query whose caller gave up leave the queue at once, without a slot', async () => {
    const gate = createQueryGate({ concurrency: 1, queue: 1 })
    let finish = () => {}
    const running = gate.run(() => new Promise<void>((resolve) => (finish = resolve)))
    const controller = new AbortController()
    let ran = false
    const waiting = gate.run(async () => {
      ran = true
    }, controller.signal)
    expect(gate.stats().waiting).toBe(1)
    controller.abort()
    await expect(waiting).rejects.toMatchObject({ code: 'QUERY_ABANDONED' })
    expect(gate.stats()).toMatchObject({ running: 1, waiting: 0 })
    finish()
    await running
    expect(ran).toBe(false)
    expect(gate.stats().running).toBe(0)
  })
})
