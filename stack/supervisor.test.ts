import type { ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createSupervisor, DEFAULT_BACKOFF, restartDelayMs, shouldRestart } from './supervisor.ts'

describe('restartDelayMs', () => {
  it('1 s doubling to 30 s while the process keeps dying young', () => {
    const delays: number[] = []
    let d: number | undefined
    for (let i = 0; i < 8; i++) {
      d = restartDelayMs(d, 5_000)
      delays.push(d)
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000])
  })
  it('starts again at 1 s once a process stayed up 60 s', () => {
    expect(restartDelayMs(30_000, 59_999)).toBe(30_000)
    expect(restartDelayMs(30_000, 60_000)).toBe(DEFAULT_BACKOFF.initialMs)
  })
})

describe('shouldRestart', () => {
  it('non-zero codes (75 included) and signals restart; a clean exit does not', () => {
    expect(shouldRestart(75, null)).toBe(true)
    expect(shouldRestart(1, null)).toBe(true)
    expect(shouldRestart(null, 'SIGKILL')).toBe(true)
    expect(shouldRestart(0, null)).toBe(false)
  })
})

describe('createSupervisor', () => {
  afterEach(() => {
    vi.useRealTimers()
  })
  const fakeChild = () => new EventEmitter() as unknown as ChildProcess

  it('restarts after exits with backoff, logs code or signal, and restarts nothing once stopped', () => {
    vi.useFakeTimers()
    const logs: string[] = []
    const spawned: ChildProcess[] = []
    const supervisor = createSupervisor({ log: (l) => logs.push(l), nowMs: () => Date.now() })
    const entry = supervisor.supervise('aggregator', () => {
      const c = fakeChild()
      spawned.push(c)
      return c
    })
    expect(spawned).toHaveLength(1)
    spawned[0]?.emit('exit', 75, null)
    expect(logs.at(-1)).toBe('[start] aggregator exited (code 75); restarting in 1 s (restart 1)')
    vi.advanceTimersByTime(999)
    expect(spawned).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(spawned).toHaveLength(2)
    expect(entry.child).toBe(spawned[1])
    expect(entry.restarts).toBe(1)
    spawned[1]?.emit('exit', null, 'SIGKILL')
    expect(logs.at(-1)).toBe('[start] aggregator exited (signal SIGKILL); restarting in 2 s (restart 2)')
    vi.advanceTimersByTime(2_000)
    expect(spawned).toHaveLength(3)
    // Up for a minute: the backoff starts again at 1 s.
    vi.advanceTimersByTime(60_000)
    spawned[2]?.emit('exit', 1, null)
    expect(logs.at(-1)).toContain('restarting in 1 s (restart 3)')
    // Ctrl-C while a restart is pending: it is cancelled; later exits restart nothing.
    supervisor.stop()
    vi.advanceTimersByTime(60_000)
    expect(spawned).toHaveLength(3)
  })

  it('a clean exit is not restarted; an exit during shutdown is not even logged', () => {
    vi.useFakeTimers()
    const logs: string[] = []
    const spawned: ChildProcess[] = []
    const supervisor = createSupervisor({ log: (l) => logs.push(l) })
    supervisor.supervise('api', () => {
      const c = fakeChild()
      spawned.push(c)
      return c
    })
    spawned[0]?.emit('exit', 0, null)
    vi.advanceTimersByTime(60_000)
    expect(spawned).toHaveLength(1)
    expect(logs).toEqual(['[start] api exited (code 0); not restarted (a clean exit)'])
    supervisor.supervise('ingest', () => {
      const c = fakeChild()
      spawned.push(c)
      return c
    })
    supervisor.stop()
    spawned[1]?.emit('exit', null, 'SIGTERM')
    vi.advanceTimersByTime(60_000)
    expect(spawned).toHaveLength(2)
    expect(logs).toHaveLength(1)
  })

  it('onExit: a port move restarts at once without touching the backoff, a give-up restarts nothing', async () => {
    vi.useFakeTimers()
    const logs: string[] = []
    const spawned: ChildProcess[] = []
    const choices: ('now' | 'never' | 'backoff')[] = ['now', 'backoff', 'never']
    const supervisor = createSupervisor({ log: (l) => logs.push(l), nowMs: () => Date.now() })
    supervisor.supervise(
      'aggregator',
      () => {
        const c = fakeChild()
        spawned.push(c)
        return c
      },
      { onExit: async () => choices.shift() ?? 'backoff' },
    )
    spawned[0]?.emit('exit', 1, null)
    await vi.advanceTimersByTimeAsync(0)
    expect(logs.at(-1)).toBe('[start] aggregator exited (code 1); restarting in 0 s (restart 1)')
    expect(spawned).toHaveLength(2)
    spawned[1]?.emit('exit', 1, null)
    await vi.advanceTimersByTimeAsync(0)
    expect(logs.at(-1)).toContain('restarting in 1 s (restart 2)')
    await vi.advanceTimersByTimeAsync(1_000)
    expect(spawned).toHaveLength(3)
    spawned[2]?.emit('exit', 1, null)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(logs.at(-1)).toBe('[start] aggregator exited (code 1); not restarted')
    expect(spawned).toHaveLength(3)
    supervisor.stop()
  })
})
