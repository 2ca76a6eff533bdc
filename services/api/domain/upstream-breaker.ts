/**
 * A circuit breaker for one upstream (InfluxDB): open while its health check fails, so the
 * routes that read it answer 503 at once instead of each waiting out the query timeout
 * (attack12d F5: /healthz knew in 2 s, every InfluxDB route waited 30 s). The adapter opens it
 * when its probe fails (the /healthz check, or the ping after a query got no answer) and closes
 * it when a probe or a query succeeds; while it is open the adapter probes every second.
 */
import { ApiError } from '../errors.ts'

export interface UpstreamBreaker {
  /** Throws 503 UPSTREAM_UNAVAILABLE (retry-after) while open; returns while closed. */
  admit(): void
  /** The upstream's probe failed: open (or stay open, with the newer detail). */
  down(detail: string): void
  /** A probe or a query succeeded: closed. */
  up(): void
  isOpen(): boolean
}

/** What a caller is told to wait: the adapter probes every second while open. */
const RETRY_AFTER_S = 2

export function createUpstreamBreaker(options: {
  readonly upstream: string
  readonly now?: () => number
}): UpstreamBreaker {
  const now = options.now ?? Date.now
  let open: { sinceMs: number; detail: string } | undefined
  return {
    admit() {
      if (open === undefined) return
      const downForMs = now() - open.sinceMs
      throw new ApiError(
        'UPSTREAM_UNAVAILABLE',
        `${options.upstream} is not answering its health check (for ${Math.round(downForMs / 1000)} s: ${open.detail}): the query was not sent`,
        { details: { upstream: options.upstream, downForMs, retryAfterS: RETRY_AFTER_S } },
      )
    },
    down(detail) {
      open = { sinceMs: open?.sinceMs ?? now(), detail }
    },
    up() {
      open = undefined
    },
    isOpen: () => open !== undefined,
  }
}
