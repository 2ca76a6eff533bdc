/**
 * Whether a Kafka consumer still consumes, from what its instrumentation events said. Pure.
 *
 * A kafkajs consumer can stop for good without an error: a group rejoin that hangs while the
 * coordinator is loading (kafkajs #1630; issue 8: the aggregator stopped after an 80 s Kafka
 * SIGSTOP while /healthz said 200). A process in that state helps nobody, so the verdict has
 * two bounds: past `stallMs` /healthz fails with the reason, past `exitMs` of the same state the
 * process exits for its supervisor to start it again (the services are restart-safe: the
 * aggregator commits offsets only after the states they account for, the oracle commits nothing).
 *
 * A batch handler that runs long is a stall only while it does not wait on a dependency that
 * reports its own health: the aggregator's handler waits on InfluxDB through an outage (its store
 * health says so, and exiting would not make InfluxDB answer), but a handler waiting on Kafka
 * itself (a commit, a heartbeat to a frozen broker) is the consumer not consuming.
 */

/** Where the consumer is in its group life, and since when (wall ms). */
export type ConsumerPhase =
  /** Connected, before the first join, or rebalancing (kafkajs is rejoining). */
  | { readonly kind: 'joining'; readonly sinceMs: number }
  | { readonly kind: 'joined'; readonly sinceMs: number }
  /** kafkajs crashed; `restarting` when it will start the consumer again by itself. */
  | {
      readonly kind: 'crashed'
      readonly sinceMs: number
      readonly error: string
      readonly restarting: boolean
    }
  /** Stopped or disconnected although the service did not ask for it. */
  | { readonly kind: 'stopped'; readonly sinceMs: number }

export interface ConsumerObservation {
  readonly phase: ConsumerPhase
  /** Last FETCH (a fetch request answered, with or without records). */
  readonly lastFetchMs: number | undefined
  /** Last END_BATCH_PROCESS. */
  readonly lastBatchEndMs: number | undefined
  /** Since when the oldest batch handler still running has run (START_BATCH_PROCESS without END). */
  readonly batchRunningSinceMs: number | undefined
  /** The service says its handler waits on a dependency with a health of its own (InfluxDB). */
  readonly handlerWaitsOnDependency: boolean
  /** Records in the consumer's partitions not yet consumed, last measured; undefined: unknown. */
  readonly lagRecords: bigint | undefined
}

export interface ConsumerWatchLimits {
  readonly stallMs: number
  readonly exitMs: number
}

export type ConsumerProblemCode =
  | 'CONSUMER_NOT_IN_GROUP'
  | 'CONSUMER_CRASHED'
  | 'CONSUMER_STOPPED'
  | 'CONSUMER_NO_FETCH'
  | 'CONSUMER_BATCH_STUCK'
  | 'CONSUMER_LAG_UNCONSUMED'

export interface ConsumerProblem {
  readonly code: ConsumerProblemCode
  readonly reason: string
  /** When the state began (wall ms); the exit bound counts from here. */
  readonly sinceMs: number
  readonly forMs: number
}

export type ConsumerVerdict =
  | { readonly state: 'healthy' }
  /** /healthz fails with the problem. */
  | ({ readonly state: 'stalled' } & ConsumerProblem)
  /** The problem lasted `exitMs`: the process should exit (EX_TEMPFAIL) and be restarted. */
  | ({ readonly state: 'exit' } & ConsumerProblem)

/** EX_TEMPFAIL (sysexits.h): a temporary failure, try again; supervisors restart on it. */
export const CONSUMER_STALL_EXIT_CODE = 75

export function consumerVerdict(
  o: ConsumerObservation,
  limits: ConsumerWatchLimits,
  nowMs: number,
): ConsumerVerdict {
  const problem = consumerProblem(o, limits, nowMs)
  if (problem === undefined) return { state: 'healthy' }
  return { state: problem.forMs >= limits.exitMs ? 'exit' : 'stalled', ...problem }
}

function consumerProblem(
  o: ConsumerObservation,
  limits: ConsumerWatchLimits,
  nowMs: number,
): ConsumerProblem | undefined {
  const since = (code: ConsumerProblemCode, sinceMs: number, reason: string): ConsumerProblem => ({
    code,
    reason,
    sinceMs,
    forMs: Math.max(0, nowMs - sinceMs),
  })
  const phase = o.phase
  // Out of the group or crashed fails /healthz at once: nothing is consumed meanwhile.
  if (phase.kind === 'joining')
    return since('CONSUMER_NOT_IN_GROUP', phase.sinceMs, 'not a member of the consumer group (joining)')
  if (phase.kind === 'crashed')
    return since(
      'CONSUMER_CRASHED',
      phase.sinceMs,
      `consumer crashed (${phase.restarting ? 'kafkajs restarts it' : 'kafkajs does not restart it'}): ${phase.error}`,
    )
  if (phase.kind === 'stopped')
    return since('CONSUMER_STOPPED', phase.sinceMs, 'consumer stopped or disconnected unasked')
  if (o.batchRunningSinceMs !== undefined) {
    if (o.handlerWaitsOnDependency || nowMs - o.batchRunningSinceMs < limits.stallMs) return undefined
    return since(
      'CONSUMER_BATCH_STUCK',
      o.batchRunningSinceMs,
      `a batch handler has run for ${nowMs - o.batchRunningSinceMs} ms, not waiting on the store (Kafka itself, a commit or a heartbeat, or a hang)`,
    )
  }
  const lastFetchMs = Math.max(phase.sinceMs, o.lastFetchMs ?? 0, o.lastBatchEndMs ?? 0)
  if (nowMs - lastFetchMs >= limits.stallMs)
    return since('CONSUMER_NO_FETCH', lastFetchMs, `no fetch answered for ${nowMs - lastFetchMs} ms`)
  const lastBatchMs = Math.max(phase.sinceMs, o.lastBatchEndMs ?? 0)
  if (o.lagRecords !== undefined && o.lagRecords > 0n && nowMs - lastBatchMs >= limits.stallMs)
    return since(
      'CONSUMER_LAG_UNCONSUMED',
      lastBatchMs,
      `${o.lagRecords} records unconsumed and no batch processed for ${nowMs - lastBatchMs} ms`,
    )
  return undefined
}

/** A partition's offsets: `low` the first record kept, `high` the next offset to be written. */
export interface PartitionEnds {
  readonly partition: number
  readonly low: bigint
  readonly high: bigint
}

/**
 * Records after the consumer's position in `partitions`. The position is where its batches
 * reached (`consumed`), else the group's committed offset, else the log start (a reader from the
 * beginning); never before the log start (older records are gone).
 */
export function unconsumedRecords(
  ends: readonly PartitionEnds[],
  partitions: readonly number[],
  consumed: ReadonlyMap<number, bigint>,
  committed: ReadonlyMap<number, bigint> = new Map(),
): bigint {
  let lag = 0n
  for (const p of partitions) {
    const end = ends.find((e) => e.partition === p)
    if (end === undefined) continue
    const committedOffset = committed.get(p)
    let position =
      consumed.get(p) ?? (committedOffset !== undefined && committedOffset >= 0n ? committedOffset : end.low)
    if (position < end.low) position = end.low
    if (end.high > position) lag += end.high - position
  }
  return lag
}
