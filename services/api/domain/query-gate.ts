/**
 * A bound on the InfluxDB queries the API runs at once (attack12 F3: 100 concurrent heavy
 * revenue requests of one valid client saturated InfluxDB, the aggregator's health with it).
 * At most `concurrency` run; at most `queue` wait; beyond that a query is refused at once
 * (API_BUSY), so load is shed at the API instead of piling onto InfluxDB.
 *
 * Each client (the operator key's client id its request is bound to, `bindQueryClient`) holds
 * at most half the running slots and a quarter of the queue (at least one of each), so one
 * client's in-limit queries cannot take every slot and starve the dashboard of another
 * (attack12d F6: 40 parallel revenue requests of one key kept /operator/fleet at 503 for 2.5
 * min). Waiting counts in the query's time: a query that waits is handed the time left of
 * `waitLimitMs` and leaves the queue API_BUSY when it is spent (queued requests answered after
 * up to 149 s of a 30 s timeout).
 */
import { ApiError } from '../errors.ts'
import { QueryAbandonedError } from '../ports.ts'

/**
 * A query admitted with less of its time left than this (or than a tenth of its whole time) is
 * not sent: it could only time out,
 * and a timeout reads as InfluxDB not answering (attack12 F2: "no answer in 1 ms", 503
 * UPSTREAM_UNAVAILABLE, while InfluxDB and /healthz were fine). It is API_BUSY instead.
 */
export const MIN_QUERY_TIME_MS = 250

/**
 * The client a request's queries count against, by the request's `abandoned` signal (which
 * every route hands the stores): the operator plugin binds it once the key is checked, so the
 * ports need not carry it. A query of no client (the shared fleet snapshot, which serves every
 * request and is read once for all) has no share, only the global bound.
 */
const clients = new WeakMap<AbortSignal, string>()
export function bindQueryClient(signal: AbortSignal, client: string): void {
  clients.set(signal, client)
}

export interface QueryGate {
  /**
   * Runs `query` when a slot is free for `client`, with the time left of the wait limit (all of
   * it when it did not wait). A query whose `signal` aborts while it waits leaves the queue at
   * once (QueryAbandonedError) and never takes a slot.
   */
  run<T>(
    query: (remainingMs: number | undefined) => Promise<T>,
    options?: { readonly signal?: AbortSignal | undefined; readonly client?: string | undefined },
  ): Promise<T>
  /** Queries running now, and the most that ever ran at once. */
  stats(): { readonly running: number; readonly waiting: number; readonly maxRunning: number }
}

interface Waiter {
  readonly client: string | undefined
  readonly admit: () => void
}

export function createQueryGate(options: {
  readonly concurrency: number
  readonly queue: number
  /** Longest wait for a slot plus run (the query timeout); absent: no bound on the wait. */
  readonly waitLimitMs?: number
  readonly now?: () => number
}): QueryGate {
  const now = options.now ?? Date.now
  const runningShare = Math.max(1, Math.floor(options.concurrency / 2))
  const queueShare = options.queue === 0 ? 0 : Math.max(1, Math.floor(options.queue / 4))
  let running = 0
  let maxRunning = 0
  const runningOf = new Map<string, number>()
  const waitingOf = new Map<string, number>()
  const waiting: Waiter[] = []
  const bump = (map: Map<string, number>, client: string | undefined, by: number) => {
    if (client === undefined) return
    const n = (map.get(client) ?? 0) + by
    if (n === 0) map.delete(client)
    else map.set(client, n)
  }
  const mayRun = (client: string | undefined) =>
    running < options.concurrency && (client === undefined || (runningOf.get(client) ?? 0) < runningShare)
  const release = () => {
    // The first waiter whose client is under its running share: one client's queue does not
    // hold back another's.
    const at = waiting.findIndex((w) => mayRun(w.client))
    if (at >= 0) waiting.splice(at, 1)[0]?.admit()
  }
  const busy = (message: string, details: Record<string, unknown>, hint?: string) =>
    new ApiError('API_BUSY', message, {
      details: { concurrency: options.concurrency, queue: options.queue, retryAfterS: 1, ...details },
      ...(hint === undefined ? {} : { hint }),
    })
  return {
    async run(query, runOptions = {}) {
      const { signal } = runOptions
      const client = runOptions.client ?? (signal === undefined ? undefined : clients.get(signal))
      if (signal?.aborted === true) throw new QueryAbandonedError(signal.reason)
      const startedMs = now()
      if (!mayRun(client)) {
        const mine = client === undefined ? 0 : (runningOf.get(client) ?? 0) + (waitingOf.get(client) ?? 0)
        if (client !== undefined && mine >= runningShare + queueShare)
          throw busy(
            `client ${client} already has ${runningOf.get(client) ?? 0} InfluxDB queries running and ${waitingOf.get(client) ?? 0} waiting: its share of this API's slots`,
            { client, clientRunning: runningShare, clientQueue: queueShare },
            "This client (its API key, or its address) holds its share of this API's InfluxDB query slots (details.clientRunning running, details.clientQueue waiting); other clients are still served. Retry after the retry-after header, or send fewer or lighter queries at once.",
          )
        if (waiting.length >= options.queue)
          throw busy(`${running} InfluxDB queries run and ${waiting.length} wait`, {})
        await new Promise<void>((resolve, reject) => {
          let timer: ReturnType<typeof setTimeout> | undefined
          const leaveQueue = () => {
            const at = waiting.indexOf(waiter)
            if (at >= 0) waiting.splice(at, 1)
            bump(waitingOf, client, -1)
            signal?.removeEventListener('abort', abandon)
            if (timer !== undefined) clearTimeout(timer)
          }
          const waiter: Waiter = {
            client,
            admit: () => {
              leaveQueue()
              resolve()
            },
          }
          const abandon = () => {
            leaveQueue()
            reject(new QueryAbandonedError(signal?.reason))
          }
          waiting.push(waiter)
          bump(waitingOf, client, 1)
          signal?.addEventListener('abort', abandon, { once: true })
          if (options.waitLimitMs !== undefined) {
            const limitMs = options.waitLimitMs
            timer = setTimeout(() => {
              leaveQueue()
              reject(
                busy(
                  `waited ${limitMs} ms for one of this API's ${options.concurrency} InfluxDB query slots: InfluxDB is busy with this API's queries`,
                  { waitedMs: limitMs },
                ),
              )
            }, limitMs)
          }
        })
      }
      running++
      bump(runningOf, client, 1)
      maxRunning = Math.max(maxRunning, running)
      const waitedMs = now() - startedMs
      const remainingMs =
        options.waitLimitMs === undefined ? undefined : Math.max(1, options.waitLimitMs - waitedMs)
      if (
        remainingMs !== undefined &&
        remainingMs < Math.min(MIN_QUERY_TIME_MS, (options.waitLimitMs ?? 0) / 10)
      ) {
        running--
        bump(runningOf, client, -1)
        release()
        throw busy(
          `waited ${waitedMs} ms of ${options.waitLimitMs} ms for one of this API's ${options.concurrency} InfluxDB query slots: too little time is left to send the query (InfluxDB is busy with this API's queries)`,
          { waitedMs },
        )
      }
      try {
        return await query(remainingMs)
      } finally {
        running--
        bump(runningOf, client, -1)
        release()
      }
    },
    stats: () => ({ running, waiting: waiting.length, maxRunning }),
  }
}
