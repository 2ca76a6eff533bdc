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
    const waiting = gate.run(
      async () => {
        ran = true
      },
      { signal: controller.signal },
    )
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

describe('createQueryGate per client (attack12d F6)', () => {
  const held = () => {
    const finish: Array<() => void> = []
    const slow = () => new Promise<string>((resolve) => finish.push(() => resolve('ok')))
    return { finish, slow }
  }
  const settle = <T>(p: Promise<T>) =>
    p.then(
      (v) => v,
      (e: unknown) => e,
    )

  it("holds one client to half the running slots and a quarter of the queue; another client's queries still run", async () => {
    const gate = createQueryGate({ concurrency: 4, queue: 16 })
    const { finish, slow } = held()
    const flood = Array.from({ length: 40 }, () => settle(gate.run(slow, { client: 'flood' })))
    await Promise.resolve()
    expect(gate.stats()).toMatchObject({ running: 2, waiting: 4 })
    const dashboard = settle(gate.run(async () => 'fleet', { client: 'dashboard' }))
    expect(await dashboard).toBe('fleet')
    const refused = (await Promise.all(flood.slice(6))) as ApiError[]
    expect(refused.every((e) => e instanceof ApiError && e.code === 'API_BUSY')).toBe(true)
    expect(refused[0]?.details).toMatchObject({ client: 'flood', clientRunning: 2, clientQueue: 4 })
    expect(refused[0]?.shortMessage).toMatch(
      /client flood already has 2 InfluxDB queries running and 4 waiting/,
    )
    while (gate.stats().running > 0) {
      finish.shift()?.()
      await new Promise((r) => setTimeout(r, 0))
    }
    expect((await Promise.all(flood.slice(0, 6))).every((r) => r === 'ok')).toBe(true)
    // The flood's 2 and the dashboard's 1.
    expect(gate.stats().maxRunning).toBe(3)
  })

  it('counts the wait in the time limit: a query that waited it out leaves API_BUSY, one admitted runs with the time left', async () => {
    let nowMs = 0
    const gate = createQueryGate({ concurrency: 1, queue: 4, waitLimitMs: 50, now: () => nowMs })
    const { finish, slow } = held()
    const first = gate.run(slow)
    const timedOut = settle(gate.run(slow))
    const waited = await timedOut
    expect(waited).toBeInstanceOf(ApiError)
    expect((waited as ApiError).code).toBe('API_BUSY')
    expect((waited as ApiError).shortMessage).toMatch(
      /waited 50 ms for one of this API's 1 InfluxDB query slots/,
    )
    const remaining: Array<number | undefined> = []
    const second = gate.run(async (ms) => remaining.push(ms))
    nowMs = 30
    finish.shift()?.()
    await first
    await second
    expect(remaining).toEqual([20])
  })

  it('does not send a query admitted with almost none of its time left: API_BUSY, not a timeout (attack12 F2)', async () => {
    let nowMs = 0
    const gate = createQueryGate({ concurrency: 1, queue: 4, waitLimitMs: 1_000, now: () => nowMs })
    const { finish, slow } = held()
    const first = gate.run(slow)
    const sent: Array<number | undefined> = []
    const late = settle(gate.run(async (ms) => sent.push(ms)))
    nowMs = 999
    finish.shift()?.()
    await first
    const answer = await late
    expect(sent).toEqual([])
    expect((answer as ApiError).code).toBe('API_BUSY')
    expect((answer as ApiError).shortMessage).toMatch(/waited 999 ms of 1000 ms .* too little time is left/)
    // The slot it was admitted to is free again.
    expect(await gate.run(async () => 'ok')).toBe('ok')
    expect(gate.stats().running).toBe(0)
  })
})
