import { setTimeout as sleep } from 'node:timers/promises'

export interface RetryOptions {
  readonly timeoutMs: number
  readonly intervalMs: number
  /** Called with each failure, for progress output. */
  readonly onFailure?: (error: unknown, attempt: number) => void
}

/** Runs `attempt` until it resolves or the deadline passes; then throws its last error. */
export async function retryUntil<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  for (let attemptNo = 1; ; attemptNo++) {
    try {
      return await attempt()
    } catch (error) {
      options.onFailure?.(error, attemptNo)
      if (Date.now() + options.intervalMs >= deadline) throw error
      await sleep(options.intervalMs)
    }
  }
}

/** Rejects after `timeoutMs` so a probe against a hung server cannot block start-up. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
