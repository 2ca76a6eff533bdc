/**
 * A bound on the InfluxDB queries the API runs at once (attack12 F3: 100 concurrent heavy
 * revenue requests of one valid client saturated InfluxDB, the aggregator's health with it).
 * At most `concurrency` run; at most `queue` wait; beyond that a query is refused at once
 * (API_BUSY), so load is shed at the API instead of piling onto InfluxDB.
 */
import { ApiError } from '../errors.ts'
import { QueryAbandonedError } from '../ports.ts'

export interface QueryGate {
  /**
   * Runs `query` when a slot is free. A query whose `signal` aborts while it waits leaves the
   * queue at once (QueryAbandonedError) and never takes a slot.
   */
  run<T>(query: () => Promise<T>, signal?: AbortSignal): Promise<T>
  /** Queries running now, and the most that ever ran at once. */
  stats(): { readonly running: number; readonly waiting: number; readonly maxRunning: number }
}

export function createQueryGate(options: {
  readonly concurrency: number
  readonly queue: number
}): QueryGate {
  let running = 0
  let maxRunning = 0
  const waiting: Array<() => void> = []
  const release = () => {
    running--
    const next = waiting.shift()
    if (next !== undefined) next()
  }
  return {
    async run(query, signal) {
      if (signal?.aborted === true) throw new QueryAbandonedError(signal.reason)
      if (running >= options.concurrency) {
        if (waiting.length >= options.queue) {
          throw new ApiError('API_BUSY', `${running} InfluxDB queries run and ${waiting.length} wait`, {
            details: { concurrency: options.concurrency, queue: options.queue, retryAfterS: 1 },
          })
        }
        await new Promise<void>((resolve, reject) => {
          const admit = () => {
            signal?.removeEventListener('abort', leave)
            resolve()
          }
          const leave = () => {
            const at = waiting.indexOf(admit)
            if (at >= 0) waiting.splice(at, 1)
            reject(new QueryAbandonedError(signal?.reason))
          }
          waiting.push(admit)
          signal?.addEventListener('abort', leave, { once: true })
        })
      }
      running++
      maxRunning = Math.max(maxRunning, running)
      try {
        return await query()
      } finally {
        release()
      }
    },
    stats: () => ({ running, waiting: waiting.length, maxRunning }),
  }
}
