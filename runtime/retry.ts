/**
 * The one retry helper every service uses. It asks the error what to do instead of retrying
 * everything: a transient failure (network, timeout, 5xx, 429, a Kafka leader move) backs off
 * and tries again; a permanent one (4xx, a record the broker will never take, a schema error)
 * is thrown at once, so the caller dead-letters what caused it or stops with a message that
 * says what to fix. Retrying a permanent failure forever is how one poison record stalls a
 * service while `/healthz` still answers ok.
 */
import { GridrootError, RetryableError } from '../core/errors/base.ts'

export type RetryVerdict = 'retry' | 'permanent'

/** Node's socket-level error codes that say "the peer was not reachable just now". */
const TRANSIENT_SYSCALL_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

const KAFKAJS_WRAPPERS = new Set(['KafkaJSNumberOfRetriesExceeded', 'KafkaJSNonRetriableError'])
const isKafkaJsError = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  String((value as { name?: unknown }).name).startsWith('KafkaJS')

/**
 * Classifies an error by what it says of itself, most specific first:
 * - a `RetryableError` retries; any other `GridrootError` is permanent (it was raised on purpose);
 * - kafkajs's wrappers ("retries exceeded", "non-retriable" around those) are judged by the
 *   kafkajs error they wrap (what kafkajs gave up on);
 * - a boolean `retriable` / `retryable` property (kafkajs errors carry `retriable`) decides;
 * - an HTTP status (`statusCode` or `status`, as the InfluxDB and viem clients set): 408, 425, 429
 *   and 5xx retry, other 4xx are permanent;
 * - a socket error code or a timeout/abort name retries;
 * - the same questions are asked of `cause`; what is still unknown retries (a failure we cannot
 *   name is more often a flaky network than a bug, and callers bound retries with `maxAttempts`
 *   or a stop signal where that matters).
 */
export function classifyError(error: unknown, depth = 0): RetryVerdict {
  if (error instanceof RetryableError) return 'retry'
  if (error instanceof GridrootError) return 'permanent'
  if (typeof error !== 'object' || error === null) return 'retry'
  const e = error as Record<string, unknown>
  // kafkajs gives up after its own retries with KafkaJSNumberOfRetriesExceeded, and an outer
  // kafkajs retrier wraps that again in KafkaJSNonRetriableError: both call themselves
  // non-retriable, yet what they gave up on (a broker down, a leader move) is their cause.
  if (KAFKAJS_WRAPPERS.has(String(e.name)) && isKafkaJsError(e.cause) && depth < 5) {
    return classifyError(e.cause, depth + 1)
  }
  for (const key of ['retriable', 'retryable'] as const) {
    if (typeof e[key] === 'boolean') return e[key] ? 'retry' : 'permanent'
  }
  const status =
    typeof e.statusCode === 'number' ? e.statusCode : typeof e.status === 'number' ? e.status : undefined
  if (status !== undefined && status >= 400) {
    return status >= 500 || status === 408 || status === 425 || status === 429 ? 'retry' : 'permanent'
  }
  if (typeof e.code === 'string' && TRANSIENT_SYSCALL_CODES.has(e.code)) return 'retry'
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.name === 'RequestTimedOutError')
    return 'retry'
  if (depth < 5 && e.cause !== undefined) return classifyError(e.cause, depth + 1)
  return 'retry'
}

export interface RetryOptions {
  /** Names the operation in logs and errors ("influx write", "kafka produce"). */
  readonly operation: string
  /** First back-off; doubles per attempt up to `maxDelayMs`, with ±25 % jitter. */
  readonly initialDelayMs?: number
  readonly maxDelayMs?: number
  /** Give up after this many attempts (default: never, for a transient error). */
  readonly maxAttempts?: number
  /** Overrides or refines `classifyError` (e.g. "too large" from a broker reply). */
  readonly classify?: (error: unknown) => RetryVerdict
  /** Aborting stops the waiting and throws the last error. */
  readonly signal?: AbortSignal
  /** Called before each back-off: log, count, flip a health flag. */
  readonly onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void
}

/** Thrown when retries are exhausted or stopped; `cause` is the last error. */
export class RetriesExhaustedError extends GridrootError<'RETRIES_EXHAUSTED'> {
  override readonly name = 'RetriesExhaustedError'
  readonly attempts: number
  constructor(operation: string, attempts: number, cause: unknown, why: 'attempts' | 'aborted') {
    super(
      'RETRIES_EXHAUSTED',
      `${operation} failed ${attempts} time(s); ${why === 'aborted' ? 'stopped' : 'giving up'}`,
      {
        cause,
        metaMessages: [
          'The cause says what failed last; a transient failure that lasts is usually a server down.',
        ],
      },
    )
    this.attempts = attempts
  }
}

/** The delay before attempt `attempt + 1` (1-based), without jitter. */
export function backoffDelayMs(attempt: number, initialDelayMs = 100, maxDelayMs = 5_000): number {
  return Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 20))
}

/**
 * Runs `fn` until it succeeds, a permanent error is thrown (re-thrown as is, so the caller can
 * dead-letter by its type), the attempts run out or the signal aborts (`RetriesExhaustedError`).
 *
 * @example
 *   await retry(() => store.write(lines), { operation: 'influx write', signal: stopping.signal,
 *     onRetry: ({ error, attempt }) => logger.warn({ err: error, attempt }, 'influx write failed; retrying') })
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const classify = options.classify ?? classifyError
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (error) {
      if (classify(error) === 'permanent') throw error
      if (options.signal?.aborted)
        throw new RetriesExhaustedError(options.operation, attempt, error, 'aborted')
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) {
        throw new RetriesExhaustedError(options.operation, attempt, error, 'attempts')
      }
      const base = backoffDelayMs(attempt, options.initialDelayMs, options.maxDelayMs)
      const delayMs = Math.round(base * (0.75 + Math.random() * 0.5))
      options.onRetry?.({ error, attempt, delayMs })
      const aborted = await sleep(delayMs, options.signal)
      if (aborted) throw new RetriesExhaustedError(options.operation, attempt, error, 'aborted')
    }
  }
}

/** Resolves true if the signal aborted before `ms` passed. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(true)
    const onAbort = () => {
      clearTimeout(timer)
      resolve(true)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve(false)
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
