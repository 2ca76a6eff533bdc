/**
 * What the API's routes read, as interfaces: the routes and the domain never import an adapter.
 * `adapters/` implements them on InfluxDB (Flux), Kafka and the registry file; the on-chain
 * readers (oracle epochs, holder claims, device audits) on the chain and the artifact store.
 */
import { GridrootError, RetryableError } from '../../core/errors/base.ts'
import type { DeviceRegistry } from '../../core/identity/registry.ts'
import type { AssetClass } from '../../core/telemetry/types.ts'
import type { FinalizedEpoch } from '../oracle/ports.ts'
import type { VerifyOutcome } from '../oracle/verify.ts'
import type { DlqReaderHealth } from './domain/dlq-reader-health.ts'
import type { DlqCrossPage } from './domain/dlq-store.ts'
import type { TimeRange, WindowPlan } from './domain/time-window.ts'

/** A store did not answer (down, unreachable, timed out): the request can be retried. */
export class StoreUnavailableError extends RetryableError<'STORE_UNAVAILABLE'> {
  override readonly name = 'StoreUnavailableError'
  /** The query's time ran out (InfluxDB may be up and busy), rather than no connection or a 5xx. */
  readonly timedOut: boolean
  /** Cancelled because InfluxDB was found down (silent, and its ping failed): no need to ping again. */
  readonly down: boolean
  constructor(cause: unknown, options: { readonly timedOut?: boolean; readonly down?: boolean } = {}) {
    super('STORE_UNAVAILABLE', 'InfluxDB did not answer the query', {
      metaMessages: ['Is InfluxDB up and GRIDROOT_INFLUX_URL right? The request can be retried.'],
      cause,
    })
    this.timedOut = options.timedOut ?? false
    this.down = options.down ?? false
  }
}

/**
 * The store answered and refused the query the API built: a bug of the API (or a missing
 * bucket), not an outage; retrying gets the same answer. `storeMessage` is the store's own word.
 */
export class StoreQueryError extends GridrootError<'STORE_QUERY_REFUSED'> {
  override readonly name = 'StoreQueryError'
  constructor(
    readonly storeStatus: number,
    readonly storeMessage: string,
    cause: unknown,
  ) {
    super('STORE_QUERY_REFUSED', `InfluxDB refused a query the API built (${storeStatus})`, {
      metaMessages: [
        'A bug in services/api/adapters/flux.ts, or a bucket that does not exist (GRIDROOT_INFLUX_BUCKET).',
      ],
      details: { storeStatus, storeMessage },
      cause,
    })
  }
}

/**
 * The caller gave up on the query before it ended (its client went away, or its request was
 * answered without it, e.g. API_BUSY for a sibling query): cancelled, not a store failure.
 */
export class QueryAbandonedError extends GridrootError<'QUERY_ABANDONED'> {
  override readonly name = 'QueryAbandonedError'
  constructor(cause: unknown) {
    super('QUERY_ABANDONED', 'the InfluxDB query was cancelled: its request was given up', {
      metaMessages: ['Nothing to do: nobody waits for the answer any more.'],
      cause,
    })
  }
}

export type RevenueGroupBy = 'pool' | 'class' | 'device'

export interface SeriesFilter {
  readonly pools?: readonly string[]
  readonly classes?: readonly AssetClass[]
  /** Validated against the registry before it reaches a store. */
  readonly devices?: readonly string[]
}

export interface RevenuePoint {
  /** Window start. */
  readonly startMs: number
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly swaps: number
}

export interface RevenueSeries {
  /** The pool id, asset class or device id the series belongs to. */
  readonly key: string
  /** Windows with data only, ascending. */
  readonly points: readonly RevenuePoint[]
}

export interface RevenueStore {
  /** Revenue and energy summed per window by the store (intervals and booked adjustments). */
  revenueSeries(
    plan: WindowPlan,
    groupBy: RevenueGroupBy,
    filter: SeriesFilter,
    signal?: AbortSignal,
  ): Promise<RevenueSeries[]>
}

export interface DeviceLastSeen {
  readonly deviceId: string
  /** Device time of the newest reading the aggregator accounted. */
  readonly lastSeenMs: number
  readonly lastSeq: number
}

export interface FleetStateStore {
  /** Every device the aggregator has state for (one point per device), or only those named. */
  lastSeen(deviceIds?: readonly string[]): Promise<DeviceLastSeen[]>
  /**
   * The newest partition watermark of the aggregator's group (`aggregator_watermark`, one point
   * per partition): a partition's watermark is the newest accounting time of its devices, so the
   * newest of them is the fleet's newest reading, read from a handful of series instead of one
   * per device. Undefined before the aggregator wrote one.
   */
  newestWatermarkMs(): Promise<number | undefined>
}

export interface QuarantineFilter extends SeriesFilter {
  readonly range: TimeRange
  readonly reasons?: readonly string[]
}

export interface QuarantinedReading {
  readonly timeMs: number
  readonly deviceId: string
  readonly poolId: string
  readonly assetClass: string
  readonly reason: string
  readonly seq: number
  readonly registerWh: number
  readonly detail: string
  /** The reading as the device sent it (JSON), undefined when it did not parse. */
  readonly reading: unknown
}

export interface QuarantineStore {
  /** Newest first. */
  page(
    filter: QuarantineFilter,
    offset: number,
    limit: number,
    signal?: AbortSignal,
  ): Promise<QuarantinedReading[]>
  countsByReason(filter: QuarantineFilter, signal?: AbortSignal): Promise<Record<string, number>>
}

export interface PoolEpochTotals {
  readonly poolId: string
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly swaps: number
  readonly readings: number
  readonly quarantined: number
  readonly devices: number
}

export interface ClosedEpoch {
  readonly epoch: number
  readonly closedAtMs: number
  readonly watermarkMs: number
  readonly devices: number
  readonly pools: readonly PoolEpochTotals[]
}

export interface EpochStore {
  /** The newest closed epoch, undefined before the first close. */
  closedThrough(signal?: AbortSignal): Promise<number | undefined>
  /** Closed epochs whose start lies in [fromMs, toMs), ascending. */
  closedEpochs(fromMs: number, toMs: number, signal?: AbortSignal): Promise<ClosedEpoch[]>
}

export interface DlqRecord {
  readonly partition: number
  /** Kafka offsets are int64: kept as decimal strings. */
  readonly offset: string
  readonly key: string
  readonly reason: string
  readonly detail: string
  readonly mqttTopic: string
  readonly receivedAtMs: number
  readonly sizeBytes: number
  /** The first bytes of the original message as UTF-8 (the whole record stays in Kafka). */
  readonly preview: string
}

export interface DlqPartitionState {
  readonly partition: number
  /** Oldest offset this reader still holds. */
  readonly oldestOffset: string
  /** One past the newest offset read. */
  readonly nextOffset: string
  readonly retained: number
}

export interface DlqPage {
  readonly records: readonly DlqRecord[]
  /** Where the next page starts (one past the last record scanned). */
  readonly nextOffset: string
}

export interface DlqReader {
  partitions(): readonly DlqPartitionState[]
  /** Records at or after `fromOffset`, ascending, optionally only those with one reason. */
  page(partition: number, fromOffset: bigint, limit: number, reason?: string): DlqPage
  /**
   * Every partition's records from its position (keyed by partition and offset: offsets repeat
   * across partitions), oldest received first, with where each partition continues
   * (domain/dlq-store.ts).
   */
  pageAcross(positions: ReadonlyMap<number, bigint>, limit: number, reason?: string): DlqCrossPage
  /** Every record read since the reader started at the topic's beginning. */
  countsByReason(): { readonly total: number; readonly byReason: Readonly<Record<string, number>> }
  /** Whether the reader still reads Kafka, and as of when its data is (domain/dlq-reader-health.ts). */
  health(nowMs?: number): DlqReaderHealth
}

export type OnChainEpochStatus = 'none' | 'pending' | 'rejected' | 'final' | 'distributed'

/** A pool epoch's record in RevenueOracle (`epochRecord(poolId, epoch)`). */
export interface OnChainEpoch {
  readonly status: OnChainEpochStatus
  /** The device tree's root (zero before a proposal). */
  readonly root: string
  /** Proposals so far rejected for this epoch. */
  readonly attempt: number
  /** When a pending root becomes final (challenge window end), ms; 0 when none. */
  readonly finalizesAtMs: number
  readonly leafCount: number
  readonly revenueUnits: bigint
}

export interface EpochChainReader {
  /** The oracle's record of each pool epoch; pools the chain does not know are left out. */
  records(
    requests: readonly { readonly poolId: string; readonly epoch: number }[],
  ): Promise<Map<string, OnChainEpoch>>
}

export const chainKey = (poolId: string, epoch: number) => `${poolId}/${epoch}`

/** The device registry as the API reads it. */
export type DeviceDirectory = Pick<DeviceRegistry, 'size' | 'get' | 'devices'>

/** InfluxDB queries of this instance now, for /metrics. */
export interface QueryLoad {
  /** HTTP queries open to InfluxDB. */
  readonly inFlight: number
  /** Queries waiting at the gate for a slot (domain/query-gate.ts). */
  readonly waiting: number
}

export interface HealthProbe {
  readonly name: string
  /** `code`: a stable code when the probe knows one (the chain's CHAIN_RESET, CONTRACTS_MISSING). */
  check(): Promise<{ readonly ok: boolean; readonly code?: string; readonly detail?: string }>
}

/** A holder's position in one pool (runtime/chain/holder-claims.ts reads it from chain + artifacts). */
export interface HolderPosition {
  readonly poolId: string
  /** Epoch of the pool's latest published cumulative root; undefined before the first. */
  readonly epoch: number | undefined
  readonly root: string | undefined
  readonly treeHash: string | undefined
  readonly cumulativeAmount: bigint
  readonly claimedUnits: bigint
  /** Cumulative minus claimed, whether or not a claim can pay it now. */
  readonly owedUnits: bigint
  /** What a claim pays now: owedUnits, or 0 while blockedBy is set. */
  readonly claimableUnits: bigint
  /** Why a claim would revert although something is owed (NOT_VERIFIED, PAUSED). */
  readonly blockedBy: string | undefined
  readonly verified: boolean
  readonly proof: readonly string[]
  readonly inTree: boolean
  readonly payouts: readonly {
    readonly paidUnits: bigint
    readonly cumulativeAmount: bigint
    readonly blockNumber: bigint
    readonly timestampS: number
    readonly transactionHash: string
  }[]
}

/** Where a holder's wallet sends claims: the chain and each pool's distributor (contracts file). */
export interface HolderContracts {
  readonly chainId: number
  readonly pools: readonly {
    readonly poolId: string
    readonly distributor: string
    readonly paymentToken: string
  }[]
}

export interface HolderReader {
  /** Pools with a RevenueDistributor in the contracts file. */
  pools(): readonly string[]
  contracts(): HolderContracts
  /** An ERC-20's symbol and decimals (read once from the chain), to show amounts in it. */
  paymentToken(address: string): Promise<{ readonly symbol: string; readonly decimals: number }>
  position(poolId: string, account: string): Promise<HolderPosition>
  /** Epochs the pool's RevenueDistributor has a RootPublished event for. */
  distributedEpochs(poolId: string): Promise<ReadonlySet<number>>
}

/** RevenueOracle's record of a pool epoch, as the auditor routes show it. */
export interface AuditEpochRecord {
  readonly epoch: number
  readonly status: 'none' | 'pending' | 'rejected' | 'final'
  readonly attempt: number
  readonly root: string
  /** When a pending root becomes final, ms; 0 when none. */
  readonly finalizesAtMs: number
}

/** A paid reading of a device, from the readings archive (the exact signed record it came in). */
export interface AuditedReading {
  readonly partition: number
  readonly offset: string
  /** Kafka record timestamp: ingest's receive time. */
  readonly receivedAtMs: number
  readonly boot: number
  readonly seq: number
  /** Device time. */
  readonly ts: number
  readonly type: string
  readonly registerWh: number
}

/** One `verify` of a device's pool epoch (services/oracle/verify.ts) with what it read. */
export interface DeviceAudit {
  readonly outcome: VerifyOutcome
  /** The chain's commitment (root, totals, artifact hashes) when the epoch is final. */
  readonly finalized: FinalizedEpoch | undefined
  /** The epoch's record when it is not final (status, when it finalizes). */
  readonly record: AuditEpochRecord | undefined
  /** The device's paid readings, from the archive verify read; undefined when it read none. */
  readonly readings: readonly AuditedReading[] | undefined
}

/** Public reads for auditors: the oracle's pools and epochs, `verify`, artifacts by hash. */
export interface AuditReader {
  /** Pools of the contracts file (RevenueOracle knows them once added). */
  pools(): readonly string[]
  /** undefined when RevenueOracle does not know the pool. */
  pool(poolId: string): Promise<{ readonly firstEpoch: number; readonly nextEpoch: number } | undefined>
  records(poolId: string, epochs: readonly number[]): Promise<AuditEpochRecord[]>
  audit(args: {
    readonly poolId: string
    readonly deviceId: string
    readonly epoch: number
  }): Promise<DeviceAudit>
  /** The bytes stored under a validated hash, checked against it; undefined when absent. */
  artifact(hash: `0x${string}`): Promise<Uint8Array | undefined>
}

/** A JSON-RPC 2.0 answer as a node sent it: a result, or an error with the node's revert data. */
export interface JsonRpcAnswer {
  readonly result?: unknown
  readonly error?: { readonly code: number; readonly message: string; readonly data?: unknown }
}

export interface DevAccount {
  readonly index: number
  readonly address: string
  /** What the local stack uses it for (contracts/deploy/dev-accounts.ts). */
  readonly role: string
}

/**
 * The local stack's dev wallet (GRIDROOT_API_DEV_WALLET=anvil): anvil's well-known accounts,
 * signed for here, so a browser without an injected wallet can claim on the local chain.
 */
export interface DevWallet {
  readonly chainId: number
  accounts(): readonly DevAccount[]
  /** Passes a read-only request to the node and returns its answer unchanged. */
  forward(method: string, params: readonly unknown[]): Promise<JsonRpcAnswer>
  /** Signs `transaction` with dev account `from`'s key and sends it; the node's error unchanged. */
  sendTransaction(
    from: DevAccount,
    transaction: { readonly to: string; readonly data: string; readonly value?: string },
  ): Promise<JsonRpcAnswer>
}

/** Everything `build()` reads from. */
export interface ApiPorts {
  readonly registry: DeviceDirectory
  readonly revenue: RevenueStore
  readonly fleet: FleetStateStore
  readonly quarantine: QuarantineStore
  readonly epochs: EpochStore
  readonly dlq: DlqReader
  /** Absent without a contracts file: epochs then carry no on-chain state. */
  readonly chain?: EpochChainReader
  /** Absent without a contracts file: no holder routes, no "distributed" epoch state. */
  readonly holders?: HolderReader
  /** Absent without a contracts file: no auditor routes. */
  readonly auditor?: AuditReader
  /** Only with GRIDROOT_API_DEV_WALLET=anvil (validated: loopback host, anvil's chain id). */
  readonly devWallet?: DevWallet
  readonly probes: readonly HealthProbe[]
  /**
   * The chain node's /healthz check (with a contracts file): it also opens and closes the
   * breaker every chain read passes (domain/guarded-chain.ts), so chain routes answer 503 at once
   * while it fails.
   */
  readonly chainProbe?: HealthProbe
  /** For the in-flight gauges of /metrics; absent: not exported. */
  readonly queryLoad?: () => QueryLoad
}
