/**
 * `npm start`'s supervisor: a service process that exits with a non-zero code or a signal (the
 * aggregator's and the oracle's 75, EX_TEMPFAIL, when their Kafka consumer stalled; a crash) is
 * started again after a backoff, and each restart is logged with the exit code or signal. A
 * clean exit (0) is left alone; nothing is restarted once the supervisor is stopped (Ctrl-C).
 * An `onExit` hook may restart at once (the service was given another port after EADDRINUSE:
 * restarting on the lost port would fail forever) or not at all (it gave up).
 */
import type { ChildProcess } from 'node:child_process'

export interface BackoffPolicy {
  readonly initialMs: number
  readonly maxMs: number
  /** A process that stayed up this long starts the backoff again at `initialMs`. */
  readonly resetAfterMs: number
}

/** 1 s doubling to 30 s: a crash loop costs little, a lone crash is restarted at once. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000, resetAfterMs: 60_000 }

/**
 * The wait before the next start, given the previous wait (undefined: none yet) and how long the
 * process that just exited ran. Pure.
 */
export function restartDelayMs(
  previousDelayMs: number | undefined,
  upForMs: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): number {
  if (previousDelayMs === undefined || upForMs >= policy.resetAfterMs) return policy.initialMs
  return Math.min(policy.maxMs, previousDelayMs * 2)
}

/** Whether an exit is one to restart after: a non-zero code or a signal. */
export function shouldRestart(code: number | null, signal: NodeJS.Signals | null): boolean {
  return signal !== null || (code !== null && code !== 0)
}

/** What an `onExit` hook decides: the usual backoff, a restart at once, or none. */
export type RestartChoice = 'backoff' | 'now' | 'never'

export interface SuperviseOptions {
  /** Asked after each exit that would be restarted, before the restart is scheduled. */
  readonly onExit?: (
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ) => RestartChoice | Promise<RestartChoice>
}

export interface Supervised {
  readonly name: string
  /** The process running now (the last one started, which may have exited). */
  readonly child: ChildProcess
  readonly restarts: number
}

export interface Supervisor {
  /** Starts `name` with `spawn` and starts it again whenever it exits for a restart. */
  supervise(name: string, spawn: () => ChildProcess, options?: SuperviseOptions): Supervised
  /** No restart after this (pending ones are cancelled). */
  stop(): void
}

export function createSupervisor(options: {
  readonly log: (line: string) => void
  readonly policy?: BackoffPolicy
  readonly nowMs?: () => number
}): Supervisor {
  const nowMs = options.nowMs ?? Date.now
  const policy = options.policy ?? DEFAULT_BACKOFF
  let stopped = false
  const timers = new Set<NodeJS.Timeout>()
  return {
    supervise(name, spawn, superviseOptions = {}) {
      let delayMs: number | undefined
      const entry = { name, child: spawn(), restarts: 0 }
      const watch = (child: ChildProcess, startedAtMs: number) => {
        child.once('exit', (code, signal) => {
          if (stopped) return
          const how = signal === null ? `code ${code}` : `signal ${signal}`
          if (!shouldRestart(code, signal)) {
            options.log(`[start] ${name} exited (${how}); not restarted (a clean exit)`)
            return
          }
          const schedule = (choice: RestartChoice) => {
            if (stopped) return
            if (choice === 'never') {
              options.log(`[start] ${name} exited (${how}); not restarted`)
              return
            }
            const waitMs = choice === 'now' ? 0 : restartDelayMs(delayMs, nowMs() - startedAtMs, policy)
            if (choice === 'backoff') delayMs = waitMs
            options.log(
              `[start] ${name} exited (${how}); restarting in ${waitMs / 1000} s (restart ${entry.restarts + 1})`,
            )
            const timer = setTimeout(() => {
              timers.delete(timer)
              if (stopped) return
              entry.restarts += 1
              entry.child = spawn()
              watch(entry.child, nowMs())
            }, waitMs)
            timers.add(timer)
          }
          // Without a hook, or with a synchronous one, the restart is scheduled in this event.
          const choice = superviseOptions.onExit?.(child, code, signal) ?? 'backoff'
          if (typeof choice === 'string') schedule(choice)
          else
            choice.then(schedule, (error: unknown) => {
              options.log(`[start] ${name}: ${error instanceof Error ? error.message : error}; restarting`)
              schedule('backoff')
            })
        })
      }
      watch(entry.child, nowMs())
      return entry
    },
    stop() {
      stopped = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
    },
  }
}
