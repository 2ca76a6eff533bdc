/**
 * Whether the aggregator can load and write its state in InfluxDB right now, as /healthz tells
 * it. Every state load and every write request goes through `track`. The store is unhealthy
 * while its last answer was a failure (InfluxDB down, refusing with 5xx/401/403/404, timing out)
 * until a request succeeds again, and while a request has waited longer than `stuckMs` without
 * an answer: a frozen InfluxDB (SIGSTOP, a stuck disk) keeps its connections open and answers
 * nothing, so no failure arrives before the client's 30 s timeout, and an instance that restarts
 * meanwhile waits in its state load. (An outside attack saw /healthz say ok all through that.)
 */
export interface StoreHealthStatus {
  readonly ok: boolean
  /** What failed last and since when, until a request succeeds. */
  readonly failing: { readonly operation: string; readonly sinceAgoMs: number; readonly error: string } | null
  /** The oldest request still waiting for InfluxDB. */
  readonly oldestWaiting: { readonly operation: string; readonly waitingMs: number } | null
}

export class StoreHealth {
  private readonly waiting = new Map<number, { readonly operation: string; readonly sinceMs: number }>()
  private failing:
    | { readonly operation: string; readonly sinceMs: number; readonly error: string }
    | undefined
  private nextId = 0

  constructor(
    private readonly stuckMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs one request to the store. `answered(error)` says whether a failure still proves the
   * store answered (a line refused for its content: the store works); an abort of ours (a
   * fenced job, a stop) says nothing about the store either way.
   */
  async track<T>(
    operation: string,
    request: () => Promise<T>,
    options: { readonly answered?: (error: unknown) => boolean; readonly signal?: AbortSignal } = {},
  ): Promise<T> {
    const id = this.nextId++
    this.waiting.set(id, { operation, sinceMs: this.now() })
    try {
      const result = await request()
      this.failing = undefined
      return result
    } catch (error) {
      if (options.answered?.(error)) this.failing = undefined
      else if (!options.signal?.aborted)
        this.failing ??= { operation, sinceMs: this.now(), error: String((error as Error)?.message ?? error) }
      throw error
    } finally {
      this.waiting.delete(id)
    }
  }

  get healthy(): boolean {
    return this.status().ok
  }

  status(): StoreHealthStatus {
    const now = this.now()
    let oldest: { operation: string; sinceMs: number } | undefined
    for (const w of this.waiting.values()) if (!oldest || w.sinceMs < oldest.sinceMs) oldest = w
    const stuck = oldest !== undefined && now - oldest.sinceMs >= this.stuckMs
    return {
      ok: this.failing === undefined && !stuck,
      failing: this.failing
        ? {
            operation: this.failing.operation,
            sinceAgoMs: now - this.failing.sinceMs,
            error: this.failing.error.slice(0, 300),
          }
        : null,
      oldestWaiting: oldest ? { operation: oldest.operation, waitingMs: now - oldest.sinceMs } : null,
    }
  }
}
