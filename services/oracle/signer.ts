/**
 * An oracle signer: on each epochs.v1 announcement, per pool, recompute the device tree on its
 * own, check it against the announcement, publish the tree and the readings archive, and sign.
 *
 * Every signer replays telemetry.v1 through the aggregator's rules (domain/replay.ts): that is
 * where the readings each leaf pays for, and so the readings digests and the archive, come
 * from. The per-device totals come from the configured source: `influx` reads what the
 * aggregator booked (epoch_device), `replay` uses its own replay, so a fault in the aggregator's
 * state cannot be signed through by it. A signer signs only what it computed itself, after the
 * artifacts it published read back byte for byte from the store; when its totals do not match
 * the announcement it signs nothing and says why on the channel (a refusal with its own root).
 *
 * After a guardian rejection the chain's attempt number grows; the signer signs its proposal
 * again for the new attempt (the submitter never re-proposes a rejected root, so that only
 * matters when the recomputed root differs). While the chain waits on an epoch the signer
 * signed, it publishes that signature again every `resignIntervalMs` (domain/resign.ts): a
 * submitter that lost it (too far ahead, restarted, evicted) gets it back from chain state.
 * What it signed is kept until the epoch is final at a safe depth (domain/final-retention.ts),
 * and after a reorganization (domain/reorg.ts) it publishes at once what the chain waits on: an
 * epoch that a reorg made open again is signed again (attack10 F8: forgotten at the first sight
 * of finality, it never was).
 *
 * A replay that has not passed the epoch yet is no reason to give up on it (domain/refusal.ts):
 * the signer says so once per pool epoch and waits again, with backoff, until it has.
 */
import { epochEndMs } from '../../core/epochs/grid.ts'
import type { DeviceRegistry } from '../../core/identity/registry.ts'
import { decodeAcceptedRecord } from '../../core/telemetry/decode.ts'
import type { TelemetryMessage } from '../../core/telemetry/types.ts'
import { decodeWatermarkMarker, isWatermarkMarkerKey } from '../../core/telemetry/watermark-marker.ts'
import { errorFields, errorSummary } from '../../runtime/chain/log-error.ts'
import type { Logger } from '../../runtime/log.ts'
import { RetriesExhaustedError, retry } from '../../runtime/retry.ts'
import { announcementMismatch, poolAnnouncementCheck } from './domain/announcement.ts'
import { FinalRetention, type FinalRetentionLimits } from './domain/final-retention.ts'
import { buildPoolEpoch, isProblem } from './domain/pool-epoch.ts'
import type { Proposal } from './domain/proposal.ts'
import { SOURCE_NOT_READY, SourceNotReadyError } from './domain/refusal.ts'
import { type BlockMark, judgeReorg } from './domain/reorg.ts'
import type { TelemetryReplay } from './domain/replay.ts'
import { type KeptSignature, resignAction } from './domain/resign.ts'
import type { OracleMetrics } from './metrics.ts'
import type {
  ArchivedRecord,
  ArtifactStore,
  DeviceEpochTotals,
  EpochAnnouncement,
  EpochTotalsStore,
  OracleChain,
  ProposalSigner,
  SignatureChannel,
} from './ports.ts'

export interface SignerDeps {
  readonly instanceId: string
  readonly source: 'influx' | 'replay'
  readonly graceMs: number
  readonly grid: Parameters<typeof epochEndMs>[0]
  readonly registry: DeviceRegistry
  readonly replay: TelemetryReplay
  /** Partitions of telemetry.v1: every one must have passed an epoch before it is final here. */
  readonly partitions: () => Promise<number>
  /**
   * The aggregator's booked totals (InfluxDB): the signed totals of an `influx` signer; for a
   * `replay` signer only the reference that tells which pool an epoch digest mismatch is in
   * (domain/announcement.ts `poolAnnouncementCheck`), never what it signs.
   */
  readonly totals: EpochTotalsStore | undefined
  readonly store: ArtifactStore
  readonly chain: OracleChain
  readonly signer: ProposalSigner
  readonly channel: SignatureChannel
  readonly metrics: OracleMetrics
  readonly logger: Logger
  /** One wait for the replay to pass an epoch; a wait that ends short is retried. */
  readonly sourceTimeoutMs: number
  /** How often a signature the chain still waits on is published again (domain/resign.ts). */
  readonly resignIntervalMs: number
  /** How long what was signed for a final epoch is kept (domain/final-retention.ts). */
  readonly finalRetention?: Partial<FinalRetentionLimits>
  /** Back-off between waits (default 1 s doubling up to 30 s). */
  readonly sourceRetry?: { readonly initialDelayMs: number; readonly maxDelayMs: number }
  /**
   * Why this signer's device registry cannot be trusted now (it no longer hashes to the on-chain
   * root of a pool: runtime/registry-onchain.ts), or undefined. While set, announcements wait:
   * leaves built from another registry than the chain's would be signed otherwise.
   */
  readonly registryProblem?: () => string | undefined
  readonly signal: AbortSignal
}

export interface Signer {
  /** Feeds telemetry.v1 records (one partition, in offset order) into the replay. */
  onTelemetry(
    records: readonly {
      partition: number
      offset: string
      timestampMs: number
      key: string | undefined
      value: Buffer
    }[],
  ): void
  /** Queues an announcement; they are handled one at a time, in order. */
  onAnnouncement(announcement: EpochAnnouncement): void
  /**
   * Per pool, for the epoch the chain waits on: signs again what the guardian rejected, and
   * publishes again a signature the submitter may have lost (called on a timer; rate-limited
   * by `resignIntervalMs`; at once after a reorganization). Forgets what is final at a safe depth.
   */
  resign(): Promise<void>
  readonly state: {
    lastSignedEpoch: number | undefined
    lastError: string | undefined
    queued: number
    /** The epoch whose replay this signer waits for, with the waits that ended short so far. */
    waitingForSource: { epoch: number; waits: number; behind: readonly number[] } | undefined
    /** The epoch held while the registry does not match the chain, and why. */
    heldByRegistry: { epoch: number; problem: string } | undefined
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function createSigner(deps: SignerDeps): Signer {
  const { replay, logger, metrics } = deps
  const pools = [...new Set([...deps.registry.devices()].map((d) => d.poolId))].sort()
  const state: Signer['state'] = {
    lastSignedEpoch: undefined,
    lastError: undefined,
    queued: 0,
    waitingForSource: undefined,
    heldByRegistry: undefined,
  }
  metrics.sourceWaitingEpoch.set(-1)
  /** pool → epoch → what this signer signed, until the epoch is final at a safe depth. */
  const signed = new Map<string, Map<number, KeptSignature>>()
  const retention = new FinalRetention(deps.finalRetention)
  /** The head at the last `resign`, to tell a reorganization by. */
  let remembered: BlockMark | undefined
  let tail: Promise<void> = Promise.resolve()

  const onRetry =
    (operation: string) =>
    ({ error, attempt }: { error: unknown; attempt: number }) => {
      state.lastError = `${operation}: ${errorSummary(error)}`
      if (attempt === 1 || attempt % 10 === 0)
        logger.warn({ error: errorFields(error), attempt }, `${operation} failed; retrying`)
    }
  const withRetry = <T>(operation: string, fn: () => Promise<T>) =>
    retry(fn, { operation, signal: deps.signal, maxDelayMs: 5_000, onRetry: onRetry(operation) })

  /**
   * Waits up to the source timeout until every partition's replay watermark passed the epoch's
   * end plus the grace; returns the partitions still behind (none: ready).
   */
  const replayBehind = async (epoch: number): Promise<number[]> => {
    const needMs = epochEndMs(deps.grid, epoch) + deps.graceMs
    const deadline = Date.now() + deps.sourceTimeoutMs
    for (;;) {
      const n = await withRetry('read telemetry partitions', deps.partitions)
      const behind: number[] = []
      for (let p = 0; p < n; p++)
        if ((replay.watermarkOf(p) ?? Number.NEGATIVE_INFINITY) < needMs) behind.push(p)
      if (n > 0 && behind.length === 0) return []
      if (Date.now() > deadline || deps.signal.aborted) return n > 0 ? behind : [-1]
      await sleep(200)
    }
  }

  /**
   * Waits, wait after wait with backoff, until the replay passed the epoch; the first wait that
   * ends short is published once per open pool as a SOURCE_NOT_READY refusal, which is not
   * final (domain/refusal.ts). Returns false only when the signer stops.
   */
  const waitForSource = async (epoch: number, open: readonly { poolId: string }[]): Promise<boolean> => {
    const policy = deps.sourceRetry ?? { initialDelayMs: 1_000, maxDelayMs: 30_000 }
    try {
      await retry(
        async (attempt) => {
          const behind = await replayBehind(epoch)
          if (behind.length === 0) return
          metrics.sourceNotReady.inc()
          metrics.sourceWaitingEpoch.set(epoch)
          state.waitingForSource = { epoch, waits: attempt, behind }
          const error = new SourceNotReadyError(epoch, behind, deps.sourceTimeoutMs * attempt)
          if (attempt === 1)
            for (const { poolId } of open)
              await refuse(poolId, epoch, SOURCE_NOT_READY, `${error.shortMessage}; waiting and retrying`)
          throw error
        },
        {
          operation: `wait for the telemetry replay to pass epoch ${epoch}`,
          signal: deps.signal,
          ...policy,
          onRetry: ({ error, attempt, delayMs }) => {
            if (attempt === 1 || attempt % 10 === 0)
              logger.warn(
                { epoch, attempt, delayMs, behind: (error as SourceNotReadyError).behind },
                'telemetry replay not ready for the epoch; waiting again',
              )
          },
        },
      )
    } catch (error) {
      if (error instanceof RetriesExhaustedError && deps.signal.aborted) return false
      throw error
    } finally {
      state.waitingForSource = undefined
      metrics.sourceWaitingEpoch.set(-1)
    }
    return true
  }

  const refuse = async (
    poolId: string,
    epoch: number,
    reason: string,
    detail: string,
    ownRoot?: Proposal['root'],
  ) => {
    metrics.refusals.inc({ reason })
    logger.warn({ poolId, epoch, reason, detail, ownRoot }, 'not signing')
    await withRetry('publish refusal', () =>
      deps.channel.publish({
        kind: 'refusal',
        instance: deps.instanceId,
        source: deps.source,
        poolId,
        epoch,
        signer: deps.signer.address,
        reason,
        detail,
        ownRoot,
      }),
    )
  }

  const publishSignature = (proposal: Proposal, signature: KeptSignature['signature']) =>
    withRetry('publish signature', () =>
      deps.channel.publish({
        kind: 'signature',
        instance: deps.instanceId,
        source: deps.source,
        proposal,
        signer: deps.signer.address,
        signature,
      }),
    )

  const signAndPublish = async (proposal: Proposal) => {
    if (!(await waitForRegistry(proposal.epoch))) return
    const signature = await deps.signer.sign(proposal)
    await publishSignature(proposal, signature)
    const kept = signed.get(proposal.poolId) ?? new Map<number, KeptSignature>()
    signed.set(proposal.poolId, kept)
    kept.set(proposal.epoch, { proposal, signature, publishedAtMs: Date.now() })
    metrics.signatures.inc({ pool: proposal.poolId })
    logger.info(
      {
        poolId: proposal.poolId,
        epoch: proposal.epoch,
        attempt: proposal.attempt,
        root: proposal.root,
        leafCount: proposal.leafCount,
      },
      'signed',
    )
  }

  /** Publishes bytes and reads them back: a store that does not return them is not signed for. */
  const publish = async (bytes: Uint8Array, hash: string): Promise<boolean> => {
    const put = await withRetry('artifact put', () => deps.store.put(bytes))
    const back = await withRetry('artifact get', () => deps.store.get(put))
    return put === hash && back !== undefined && Buffer.from(back).equals(Buffer.from(bytes))
  }

  /** Pools whose epoch is not final or pending on-chain yet (and registered), with its attempt. */
  const openPools = async (epoch: number) => {
    const open: { poolId: string; attempt: number }[] = []
    for (const poolId of pools) {
      const pool = await withRetry('read pool', () => deps.chain.pool(poolId))
      if (!pool || epoch < pool.nextEpoch || epoch < pool.firstEpoch) continue
      const record = await withRetry('read epoch record', () => deps.chain.epochRecord(poolId, epoch))
      if (record.status === 'pending' || record.status === 'final') continue
      open.push({ poolId, attempt: record.attempt })
    }
    return open
  }

  /** Waits while the registry does not match the chain; false only when the signer stops. */
  const waitForRegistry = async (epoch: number): Promise<boolean> => {
    for (let problem = deps.registryProblem?.(); problem !== undefined; problem = deps.registryProblem?.()) {
      if (deps.signal.aborted) return false
      if (state.heldByRegistry === undefined)
        logger.error({ epoch, problem }, 'not signing while the device registry does not match the chain')
      state.heldByRegistry = { epoch, problem }
      await sleep(500)
    }
    if (state.heldByRegistry !== undefined)
      logger.info({ epoch }, 'registry matches the chain again; signing')
    state.heldByRegistry = undefined
    return true
  }

  const handle = async (announcement: EpochAnnouncement) => {
    const { epoch } = announcement
    if (!(await waitForRegistry(epoch))) return
    const before = await openPools(epoch)
    if (before.length === 0) return
    if (!(await waitForSource(epoch, before))) return
    // The wait may have been long: what is open (and at which attempt) is read again.
    const open = await openPools(epoch)
    if (open.length === 0) return
    const replayed: DeviceEpochTotals[] = replay.epochResults(epoch)
    const fromInflux = deps.source === 'influx' && deps.totals !== undefined
    const totals = fromInflux
      ? await withRetry('read epoch totals', () => (deps.totals as EpochTotalsStore).epochTotals(epoch))
      : replayed
    const epochMatches = announcementMismatch(announcement, totals) === undefined
    // The other source's totals (the replay of an influx signer, the aggregator's of a replay
    // signer), read only when the epoch digest differs: they tell which pool it is in.
    let aggregatorTotals: readonly DeviceEpochTotals[] | undefined
    const otherTotals = async (): Promise<readonly DeviceEpochTotals[]> => {
      if (fromInflux) return replayed
      if (aggregatorTotals === undefined)
        try {
          aggregatorTotals = (await deps.totals?.epochTotals(epoch)) ?? []
        } catch (error) {
          aggregatorTotals = []
          logger.warn(
            { epoch, error: errorFields(error) },
            "the aggregator's totals did not read: a digest mismatch cannot be placed in a pool, so every pool of the epoch is refused",
          )
        }
      return aggregatorTotals
    }
    for (const { poolId, attempt } of open) {
      const built = buildPoolEpoch(
        poolId,
        epoch,
        attempt,
        totals,
        (d) => replay.paidReadings(epoch, d),
        replay,
      )
      if (isProblem(built)) {
        await refuse(poolId, epoch, built.code, built.detail)
        continue
      }
      const check = poolAnnouncementCheck(
        announcement,
        poolId,
        totals,
        epochMatches ? [] : [await otherTotals()],
      )
      if (!check.match) {
        const other = await otherTotals()
        const otherBuilt = buildPoolEpoch(
          poolId,
          epoch,
          attempt,
          other,
          (d) => replay.paidReadings(epoch, d),
          replay,
        )
        const otherRoot = isProblem(otherBuilt) ? undefined : otherBuilt.proposal.root
        metrics.poolMismatches.inc({ pool: poolId })
        logger.error(
          {
            poolId,
            epoch,
            source: deps.source,
            ownRoot: built.proposal.root,
            otherSource: fromInflux ? 'replay' : 'influx',
            otherRoot,
            ...(isProblem(otherBuilt) ? { otherProblem: otherBuilt.detail } : {}),
            announcedDigest: announcement.digest,
            ownPoolDigest: check.ownPoolDigest,
          },
          'pool totals differ from the announcement; not signing this pool (the other pools are signed)',
        )
        await refuse(
          poolId,
          epoch,
          'ANNOUNCEMENT_MISMATCH',
          `the ${deps.source} totals are not what the aggregator announced: ${check.detail}`,
          built.proposal.root,
        )
        continue
      }
      const treeOk = await publish(built.treeBytes, built.proposal.treeHash)
      const archiveOk = await publish(built.archiveBytes, built.proposal.archiveHash)
      if (!treeOk || !archiveOk) {
        await refuse(
          poolId,
          epoch,
          'ARTIFACT_STORE',
          'the published artifacts did not read back',
          built.proposal.root,
        )
        continue
      }
      await signAndPublish(built.proposal)
    }
    state.lastSignedEpoch = epoch
    state.lastError = undefined
  }

  return {
    state,
    onTelemetry(records) {
      for (const r of records) {
        if (isWatermarkMarkerKey(r.key)) {
          let watermarkMs: number | undefined
          try {
            watermarkMs = decodeWatermarkMarker(r.value).watermarkMs
          } catch (error) {
            metrics.undecodable.inc()
            logger.warn(
              { error: errorFields(error), partition: r.partition, offset: r.offset },
              'watermark marker skipped',
            )
          }
          replay.applyWatermarkMarker(r.partition, r.offset, watermarkMs, r.timestampMs)
          metrics.replayedRecords.inc()
          continue
        }
        let message: TelemetryMessage | undefined
        try {
          message = decodeAcceptedRecord(r.value)
        } catch (error) {
          metrics.undecodable.inc()
          logger.warn(
            { error: errorFields(error), partition: r.partition, offset: r.offset },
            'telemetry record does not decode; skipped',
          )
          message = undefined
        }
        const record: ArchivedRecord = {
          deviceId: message?.deviceId ?? r.key ?? 'unknown',
          partition: r.partition,
          offset: r.offset,
          receivedAtMs: r.timestampMs,
          valueBase64: r.value.toString('base64'),
        }
        replay.apply(record, message)
        metrics.replayedRecords.inc()
      }
    },
    onAnnouncement(announcement) {
      state.queued++
      tail = tail
        .then(() => handle(announcement))
        .catch((error: unknown) => {
          state.lastError = errorSummary(error)
          logger.error({ error: errorFields(error), epoch: announcement.epoch }, 'epoch not signed')
        })
        .finally(() => {
          state.queued--
        })
    },
    async resign() {
      const head = await deps.chain.headBlock()
      const at =
        remembered === undefined || remembered.number > head.number
          ? undefined
          : remembered.number === head.number
            ? head
            : await deps.chain.blockAt(remembered.number)
      const reorg = judgeReorg(remembered, at, head)
      remembered = head
      if (reorg) {
        metrics.reorgs.inc()
        logger.warn(
          {
            code: reorg.code,
            was: { number: String(reorg.was.number), hash: reorg.was.hash },
            head: { number: String(reorg.head.number), hash: reorg.head.hash },
          },
          `${reorg.message}; publishing again what the chain waits on`,
        )
        // The interval counts from the last publication: after a reorg, now.
        for (const kept of signed.values())
          for (const [epoch, mine] of kept)
            kept.set(epoch, { ...mine, publishedAtMs: Number.NEGATIVE_INFINITY })
      }
      for (const [poolId, kept] of signed) {
        const pool = await deps.chain.pool(poolId)
        if (!pool) continue
        // Final at a safe depth: nothing to send again, ever.
        const settled = retention.observe(poolId, pool.nextEpoch, head.number)
        for (const epoch of kept.keys()) if (epoch <= settled) kept.delete(epoch)
        // Only the chain's next epoch can be waiting on signatures or rejected.
        const mine = kept.get(pool.nextEpoch)
        if (!mine) continue
        const record = await deps.chain.epochRecord(poolId, pool.nextEpoch)
        const action = resignAction(mine, record, Date.now(), deps.resignIntervalMs)
        if (action.kind === 'sign-attempt') {
          logger.info(
            { poolId, epoch: pool.nextEpoch, attempt: action.attempt, signedAttempt: mine.proposal.attempt },
            'the chain waits on another attempt (a rejection, or a reorg undid one); signing it',
          )
          await signAndPublish({ ...mine.proposal, attempt: action.attempt })
        } else if (action.kind === 'republish') {
          await publishSignature(mine.proposal, mine.signature)
          kept.set(pool.nextEpoch, { ...mine, publishedAtMs: Date.now() })
          metrics.republished.inc({ pool: poolId })
          logger.info(
            { poolId, epoch: pool.nextEpoch, attempt: mine.proposal.attempt, root: mine.proposal.root },
            'the chain still waits on this epoch; signature published again',
          )
        }
      }
    },
  }
}
