/**
 * The job of distributing one pool: for each finalized oracle epoch, in order, compute the
 * holders' entitlement, build the next cumulative holder tree, store it in the artifact store,
 * and publish its root with the funding. Restartable at any point, because every decision comes
 * from the chain:
 *
 * - The next epoch is the contract's `nextEpoch`; the contract refuses any other, so a root is
 *   never published twice, even by two distributors racing (the loser's transaction reverts with
 *   EpochOutOfOrder, and its next pass reads the new state).
 * - The cumulative amounts after the last published epoch come from that epoch's tree, found by
 *   the `treeHash` of its RootPublished event. The tree is stored before the root is published,
 *   so it exists for every root; if the store lost it anyway, the tree is rebuilt from chain data
 *   and stored again only if it hashes to the published treeHash.
 * - A crash after storing and before publishing rebuilds the same tree (same inputs, same bytes,
 *   same hash) and publishes it; a crash after publishing finds the root on-chain and moves on.
 */
import { performance } from 'node:perf_hooks'
import type { Hex } from 'viem'
import { type EpochClock, epochChainWindow, type TokenTransfer } from '../../core/entitlement/index.ts'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import { GridrootError } from '../../core/errors/base.ts'
import type { DeviceRecord } from '../../core/identity/registry.ts'
import {
  buildHolderTree,
  type HolderTree,
  holderLeafLayout,
  parseTreeDump,
  serializeTree,
} from '../../core/merkle/index.ts'
import { errorFields } from '../../runtime/chain/log-error.ts'
import type { Logger } from '../../runtime/log.ts'
import { decodeArchive } from '../oracle/domain/archive.ts'
import type { LeafRules } from '../oracle/domain/leaf-recompute.ts'
import {
  type ArchiveAuditInput,
  type ArchiveAuditResult,
  describeAuditProblem,
  prepareArchiveAudit,
} from './domain/archive-audit.ts'
import {
  type ArtifactKind,
  type ArtifactWait,
  artifactWait,
  commitmentGate,
  type StoredArtifact,
} from './domain/commitment-gate.ts'
import { clockProblem, fundingProblem, nextPublishStep, type PublishStep } from './domain/next-step.ts'
import { PaidLedger, type PaidReading, paidReadingsOf } from './domain/paid-ledger.ts'
import { type EpochPlan, planEpoch } from './domain/plan-epoch.ts'
import type { ArtifactStore, IdentityEvent, OracleCommitment, PoolChain, PublishedRoot } from './ports.ts'

/**
 * The published history does not match what the chain data gives, the pool's on-chain epoch
 * clock does not fit this deployment's epoch grid, or a final epoch's device tree does not back
 * its commitment or is not backed by its readings archive: publishing stops for the pool.
 */
export class DistributionHistoryError extends GridrootError<
  | 'DISTRIBUTOR_HISTORY_MISMATCH'
  | 'DISTRIBUTOR_CLOCK_MISMATCH'
  | 'DISTRIBUTOR_COMMITMENT_MISMATCH'
  | 'ARCHIVE_AUDIT_FAILED'
> {
  override readonly name = 'DistributionHistoryError'
}

export interface PoolDistributorOptions {
  readonly chain: PoolChain
  readonly store: ArtifactStore
  /** The deployment's epoch grid; the chain clock comes from the pool's RevenueDistributor. */
  readonly grid: TimeGrid
  readonly firstEpoch: number
  readonly excludedAccounts: readonly string[]
  /** The devices registered in this pool (the registry file, checked against the chain at start). */
  readonly devices: ReadonlyMap<string, DeviceRecord>
  /** The aggregation settings and tariffs leaves are recomputed under (the aggregator's own). */
  readonly rules: LeafRules
  readonly logger: Logger
  /** Called with each archive audit's duration (a metric). */
  readonly onAudit?: (auditMs: number) => void
  /**
   * Called while a pass works on something other than a chain read (auditing an archive: the
   * progress), and with undefined when that ends, so /healthz does not take a long pass for a
   * node that does not answer.
   */
  readonly onActivity?: (activity: string | undefined) => void
  /** Test only: called after a step; a failpoint there stops the process. */
  readonly afterStep?: (step: 'after-build' | 'after-post') => Promise<void>
}

export type PassResult =
  | {
      readonly kind: 'published'
      readonly epoch: number
      readonly plan: EpochPlan
      readonly treeHash: Hex
      readonly fundedUnits: bigint
    }
  | { readonly kind: 'wait'; readonly step: Extract<PublishStep, { kind: 'wait' }> }
  /** The epoch is final but its committed device tree or readings archive is not in the store: not funded yet. */
  | {
      readonly kind: 'artifact-missing'
      readonly epoch: number
      readonly artifact: ArtifactKind
      readonly hash: Hex
      readonly problem: string
    }
  /** The publication's receipt did not come in time; `landed`: the chain has the epoch published all the same. */
  | { readonly kind: 'receipt-timeout'; readonly epoch: number; readonly tx: Hex; readonly landed: boolean }
  | {
      readonly kind: 'underfunded'
      readonly epoch: number
      readonly problem: string
      readonly neededUnits: bigint
    }

export interface PoolDistributor {
  /** One pass: publish the next epoch if it is due. */
  pass(): Promise<PassResult>
  /** The pool's current cumulative tree (after its last published epoch), for claims. */
  currentTree(): Promise<{ epoch: number; tree: HolderTree } | undefined>
}

/** What an operator does about a final epoch that must not be paid. */
const SETTLE_HINTS = [
  'The signers that signed it are compromised or broken; a final root can no longer be rejected (the guardian calls RevenueOracle.reject(poolId, epoch, reason) only while it is pending).',
  'Publishing for this pool stays stopped. An operator acts: pause the pool (RevenueDistributor.pause()), replace those signers (RevenueOracle.removeSigner/addSigner), settle the epoch with the pool, then restart the distributor.',
]

/** How long the archive audit runs before it lets the event loop serve /healthz and the other pools. */
const AUDIT_SLICE_MS = 50

export function createPoolDistributor(options: PoolDistributorOptions): PoolDistributor {
  const { chain, store, logger } = options
  const log = logger.child({ pool: chain.poolId })
  /** The tree after the last published epoch, once loaded. */
  let current: { epoch: number; tree: HolderTree; cumulative: Map<string, bigint> } | undefined
  /** The commitment (epoch, attempt, root, hashes) whose tree and archive passed: not audited again. */
  let verified: string | undefined
  /** The readings the pool's final epochs before `ledger.through` paid (domain/paid-ledger.ts). */
  let ledger: PaidLedger | undefined
  /** The paid readings of the epoch audited last, added to the ledger once the next is audited. */
  let auditedPaid: { readonly epoch: number; readonly readings: readonly PaidReading[] } | undefined
  const registeredDeviceIds = new Set(options.devices.keys())

  /** The pool's clock from the chain, checked against the grid the oracle's epochs follow. */
  const clockNow = async () => {
    const now = await chain.clockNow()
    const problem = clockProblem(options.grid, now.clock)
    if (problem !== undefined)
      throw new DistributionHistoryError('DISTRIBUTOR_CLOCK_MISMATCH', `pool ${chain.poolId}: ${problem}`, {
        metaMessages: [
          'Set GRIDROOT_EPOCH_GENESIS and GRIDROOT_EPOCH_LENGTH to what the pool was created with (RevenueDistributor.epochClock()); the distributor publishes nothing for this pool meanwhile.',
        ],
      })
    return now
  }

  const inputsFor = async (
    clock: EpochClock,
    epoch: number,
    revenueUnits: bigint,
    transfers: readonly TokenTransfer[],
    identity: readonly IdentityEvent[],
  ) => {
    const terms = await chain.terms()
    return {
      poolId: chain.poolId,
      epoch,
      revenueUnits,
      terms,
      window: epochChainWindow(options.grid, clock, epoch),
      transfers,
      identityEvents: identity,
      distributor: chain.distributor,
      excludedAccounts: options.excludedAccounts,
    }
  }

  /** Recomputes the trees of every published epoch from chain data (a lost artifact store). */
  const rebuildFromChain = async (roots: readonly PublishedRoot[]) => {
    const [transfers, identity, { clock }] = await Promise.all([
      chain.transfers(),
      chain.identityEvents(),
      clockNow(),
    ])
    let cumulative = new Map<string, bigint>()
    let tree: HolderTree = buildHolderTree([])
    for (const published of roots) {
      const { revenueUnits } = await chain.oracleEpoch(published.epoch)
      const plan = planEpoch(
        cumulative,
        await inputsFor(clock, published.epoch, revenueUnits, transfers, identity),
      )
      tree = buildHolderTree(plan.leaves)
      const bytes = serializeTree(tree)
      const hash = await store.put(bytes)
      if (tree.root !== published.root || hash !== published.treeHash.toLowerCase())
        throw new DistributionHistoryError(
          'DISTRIBUTOR_HISTORY_MISMATCH',
          `epoch ${published.epoch} of pool ${chain.poolId}: the chain data gives root ${tree.root} (tree ${hash}), but ${published.root} (tree ${published.treeHash}) was published`,
          {
            metaMessages: [
              'The published tree is missing from the artifact store and cannot be rebuilt the same way (were the terms or the chain clock changed?).',
              'Restore the artifact store (GRIDROOT_ARTIFACT_DIR) from a backup; the distributor publishes nothing for this pool meanwhile.',
            ],
          },
        )
      cumulative = new Map(plan.cumulative)
    }
    return { tree, cumulative }
  }

  /**
   * The stored tree, or undefined when it is missing or was altered (ARTIFACT_CORRUPT): both are
   * rebuilt from chain data, and the store's put replaces an altered file with the real bytes,
   * so a tampered artifact costs a rebuild instead of stalling the pool.
   */
  const readStored = async (treeHash: Hex, epoch: number) => {
    try {
      return await store.get(treeHash)
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ARTIFACT_CORRUPT') throw error
      log.warn(
        { epoch, treeHash, error: errorFields(error) },
        'published tree in the artifact store was altered',
      )
      return undefined
    }
  }

  /** An oracle artifact by its committed hash (the store checks the content hash). */
  const readArtifact = async (hash: Hex): Promise<StoredArtifact> => {
    try {
      const bytes = await store.get(hash)
      return bytes === undefined ? { kind: 'missing' } : { kind: 'found', bytes }
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ARTIFACT_CORRUPT') throw error
      return { kind: 'corrupt', detail: (error as { shortMessage?: string }).shortMessage ?? String(error) }
    }
  }

  /** Loads the tree after epoch `nextEpoch - 1` from its artifact (or rebuilds it). */
  const load = async (nextEpoch: number) => {
    const last = nextEpoch - 1
    if (current?.epoch === last) return current
    if (nextEpoch <= options.firstEpoch) {
      current = { epoch: last, tree: buildHolderTree([]), cumulative: new Map() }
      return current
    }
    const roots = (await chain.publishedRoots())
      .filter((r) => r.epoch <= last)
      .sort((a, b) => a.epoch - b.epoch)
    const published = roots.at(-1)
    if (published?.epoch !== last)
      throw new DistributionHistoryError(
        'DISTRIBUTOR_HISTORY_MISMATCH',
        `pool ${chain.poolId} expects epoch ${nextEpoch} next but no RootPublished event of epoch ${last} was found`,
        {
          metaMessages: [
            'Is GRIDROOT_RPC_URL an archive-capable node, and the contracts file the deployed one?',
          ],
        },
      )
    const bytes = await readStored(published.treeHash, last)
    let tree: HolderTree
    let cumulative: Map<string, bigint>
    if (bytes === undefined) {
      log.warn(
        { epoch: last, treeHash: published.treeHash },
        'published tree missing from the artifact store; rebuilding it from chain data',
      )
      ;({ tree, cumulative } = await rebuildFromChain(roots))
    } else {
      tree = parseTreeDump(holderLeafLayout, bytes)
      if (tree.root !== published.root)
        throw new DistributionHistoryError(
          'DISTRIBUTOR_HISTORY_MISMATCH',
          `the stored tree ${published.treeHash} of epoch ${last} has root ${tree.root}, not the published ${published.root}`,
        )
      cumulative = new Map(tree.leaves.map((l) => [l.account.toLowerCase(), l.cumulativeAmount]))
    }
    current = { epoch: last, tree, cumulative }
    return current
  }

  /**
   * The commitment gate and the archive audit of a final epoch: an artifact-missing result while
   * the store lacks the tree or the archive, a DistributionHistoryError (the pool stops) when
   * either does not back the commitment, undefined when the epoch may be funded.
   */
  const checkCommitment = async (commitment: OracleCommitment) => {
    const { epoch } = commitment
    const gate = commitmentGate(
      chain.poolId,
      commitment,
      await readArtifact(commitment.treeHash),
      registeredDeviceIds,
    )
    if (gate.kind === 'wait') return missing(epoch, gate)
    if (gate.kind === 'refuse')
      throw new DistributionHistoryError(
        'DISTRIBUTOR_COMMITMENT_MISMATCH',
        `epoch ${epoch} of pool ${chain.poolId} (attempt ${commitment.attempt}, root ${commitment.root}, tree ${commitment.treeHash}) is final on-chain, but its device tree does not back the commitment: ${gate.problems.map((p) => p.code).join(', ')}; nothing is funded for this pool`,
        {
          metaMessages: [...gate.problems.map((p) => `  ${p.code}: ${p.message}`), ...SETTLE_HINTS],
          details: { epoch, problems: gate.problems },
        },
      )
    const archive = await readArtifact(commitment.archiveHash)
    const wait = artifactWait(chain.poolId, epoch, 'readings archive', commitment.archiveHash, archive)
    if (wait !== undefined || archive.kind !== 'found') return missing(epoch, wait!)
    const startedAt = performance.now()
    const result = await audit({
      poolId: chain.poolId,
      commitment,
      tree: gate.tree,
      archiveBytes: archive.bytes,
      devices: options.devices,
      rules: options.rules,
    })
    const auditMs = Math.round(performance.now() - startedAt)
    options.onAudit?.(auditMs)
    if (!result.ok) {
      const { problem } = result
      throw new DistributionHistoryError(
        'ARCHIVE_AUDIT_FAILED',
        `epoch ${epoch} of pool ${chain.poolId} (attempt ${commitment.attempt}, root ${commitment.root}, archive ${commitment.archiveHash}) is final on-chain, but its readings archive does not back its device tree: ${describeAuditProblem(problem)}; nothing is funded for this pool`,
        {
          metaMessages: [
            `  The leaves were recomputed from the archive's signed readings, the registry's public keys and the aggregation rules (what \`npm run verify -- --pool ${chain.poolId} --device ${problem.deviceId ?? '<device>'} --epoch ${epoch}\` checks).`,
            ...SETTLE_HINTS,
          ],
          details: {
            epoch,
            attempt: commitment.attempt,
            deviceId: problem.deviceId,
            field: problem.field,
            check: problem.check,
            auditMs,
          },
        },
      )
    }
    // Each reading is paid in one epoch only (attack10 F2: genuine readings of earlier epochs,
    // re-booked as late adjustments under moved watermarks, recompute exactly).
    const before = await ledgerBefore(epoch)
    if (!(before instanceof PaidLedger)) return before
    const paid = result.paid ?? []
    const twice = before.firstPaidTwice(epoch, paid)
    if (twice !== undefined) {
      options.onAudit?.(auditMs)
      throw new DistributionHistoryError(
        'ARCHIVE_AUDIT_FAILED',
        `epoch ${epoch} of pool ${chain.poolId} (attempt ${commitment.attempt}, root ${commitment.root}, archive ${commitment.archiveHash}) is final on-chain, but its readings archive pays device ${twice.deviceId}'s reading boot ${twice.boot} seq ${twice.seq}, which ${twice.paidInEpoch === epoch ? 'it pays twice' : `epoch ${twice.paidInEpoch} paid already`} (READING_PAID_TWICE); nothing is funded for this pool`,
        {
          metaMessages: [
            '  The aggregator books each accepted reading into exactly one epoch; an archive that pays one again was not built from the telemetry.',
            ...SETTLE_HINTS,
          ],
          details: {
            epoch,
            attempt: commitment.attempt,
            deviceId: twice.deviceId,
            field: 'readings',
            check: 'READING_PAID_TWICE',
            boot: twice.boot,
            seq: twice.seq,
            paidInEpoch: twice.paidInEpoch,
            auditMs,
          },
        },
      )
    }
    auditedPaid = { epoch, readings: paid }
    log.info(
      { epoch, devices: result.devices, records: result.records, readings: paid.length, auditMs },
      'readings archive audited: every leaf recomputed from its signed readings, none paid before',
    )
    return undefined
  }

  /**
   * A publication whose receipt did not come within the bound (dropped by a reorg, or slow): the
   * chain decides. Published (the contract moved past the epoch) → nothing to resend; otherwise
   * the next pass builds the same tree again and sends it again, which the contract accepts at
   * most once (`nextEpoch`), so nothing is paid twice.
   */
  const receiptTimedOut = async (epoch: number, tx: Hex): Promise<PassResult> => {
    const landed = (await chain.state()).nextEpoch > epoch
    // The tree after the epoch is read from the chain's RootPublished again either way.
    current = undefined
    log.warn(
      { epoch, tx, landed },
      landed
        ? 'no receipt for the publication within the bound, but the chain has the epoch published'
        : 'no receipt for the publication within the bound and the chain has not published the epoch: sending it again',
    )
    return { kind: 'receipt-timeout', epoch, tx, landed }
  }

  const missing = (epoch: number, wait: ArtifactWait): PassResult => ({
    kind: 'artifact-missing',
    epoch,
    artifact: wait.artifact,
    hash: wait.hash,
    problem: wait.problem,
  })

  /**
   * Brings the ledger to the final epochs before `epoch`, reading the archives it does not hold
   * yet (all of them after a start: a restarted distributor must not forget what was paid); an
   * artifact-missing result while one of them is not in the store.
   */
  const ledgerBefore = async (epoch: number): Promise<PaidLedger | PassResult> => {
    if (ledger === undefined || ledger.through > epoch) ledger = new PaidLedger(options.firstEpoch)
    const startedAt = performance.now()
    const from = ledger.through
    while (ledger.through < epoch) {
      const e = ledger.through
      if (auditedPaid?.epoch === e) {
        ledger.add(e, auditedPaid.readings)
        continue
      }
      const earlier = await chain.oracleCommitment(e)
      if (earlier === undefined)
        throw new DistributionHistoryError(
          'DISTRIBUTOR_HISTORY_MISMATCH',
          `pool ${chain.poolId}: epoch ${epoch} is final but the earlier epoch ${e} is not`,
        )
      const stored = await readArtifact(earlier.archiveHash)
      const wait = artifactWait(chain.poolId, e, 'readings archive', earlier.archiveHash, stored)
      if (wait !== undefined || stored.kind !== 'found') return missing(e, wait!)
      ledger.add(e, paidReadingsOf(decodeArchive(stored.bytes)))
      options.onActivity?.(`reading the paid readings of epoch ${e} (up to ${epoch - 1})`)
      await new Promise((r) => setImmediate(r))
    }
    options.onActivity?.(undefined)
    if (epoch - from > 1)
      log.info(
        {
          fromEpoch: from,
          toEpoch: epoch - 1,
          ranges: ledger.size.ranges,
          ms: Math.round(performance.now() - startedAt),
        },
        'paid readings of the earlier final epochs read from their archives',
      )
    return ledger
  }

  /** The audit, in slices of AUDIT_SLICE_MS between which the event loop runs. */
  const audit = async (
    input: ArchiveAuditInput,
  ): Promise<ArchiveAuditResult & { readonly paid?: readonly PaidReading[] }> => {
    const prepared = prepareArchiveAudit(input)
    if (!('auditDevice' in prepared)) return { ok: false, problem: prepared }
    const total = prepared.deviceIds.length
    let sliceStart = performance.now()
    try {
      for (const [i, deviceId] of prepared.deviceIds.entries()) {
        const problem = prepared.auditDevice(deviceId)
        if (problem !== undefined) return { ok: false, problem }
        if (performance.now() - sliceStart < AUDIT_SLICE_MS) continue
        options.onActivity?.(
          `auditing the readings archive of epoch ${input.commitment.epoch}: ${i + 1} of ${total} devices`,
        )
        await new Promise((r) => setImmediate(r))
        sliceStart = performance.now()
      }
    } finally {
      options.onActivity?.(undefined)
    }
    return { ok: true, devices: total, records: prepared.records, paid: prepared.paidReadings() }
  }

  return {
    async pass() {
      const state = await chain.state()
      const epoch = state.nextEpoch
      const oracle = await chain.oracleEpoch(epoch)
      // The clock as of the latest block: once that block is past the window's end, the clock
      // can no longer change (RevenueDistributor.setEpochClock), so this window is final.
      const { latestBlockTimestampS, clock } = await clockNow()
      const window = epochChainWindow(options.grid, clock, epoch)
      const step = nextPublishStep(state, oracle.final, window, latestBlockTimestampS)
      if (step.kind === 'wait') return { kind: 'wait', step }

      // Never fund on the committed figure alone: the committed device tree must back it, and
      // the committed readings archive must back every leaf of the tree.
      const commitment = await chain.oracleCommitment(epoch)
      if (commitment === undefined)
        return { kind: 'wait', step: { kind: 'wait', epoch, reason: 'oracle-not-final' } }
      const key = `${epoch}/${commitment.attempt}/${commitment.root}/${commitment.treeHash}/${commitment.archiveHash}`
      if (verified !== key) {
        const waiting = await checkCommitment(commitment)
        if (waiting !== undefined) return waiting
        verified = key
      }

      const previous = await load(epoch)
      const [transfers, identity] = await Promise.all([chain.transfers(), chain.identityEvents()])
      const plan = planEpoch(
        previous.cumulative,
        await inputsFor(clock, epoch, commitment.revenueUnits, transfers, identity),
      )
      const tree = buildHolderTree(plan.leaves)
      const treeHash = await store.put(serializeTree(tree))
      await options.afterStep?.('after-build')

      const increase = plan.cumulativeTotal - state.totalFunded
      const problem = fundingProblem(increase, await chain.treasuryFunds())
      if (problem !== undefined) return { kind: 'underfunded', epoch, problem, neededUnits: increase }

      let hash: Hex
      try {
        hash = await chain.publish(epoch, tree.root, plan.cumulativeTotal, treeHash)
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'RECEIPT_TIMEOUT') throw error
        return receiptTimedOut(epoch, (error as { hash: Hex }).hash)
      }
      current = { epoch, tree, cumulative: new Map(plan.cumulative) }
      const e = plan.entitlement
      log.info(
        {
          epoch,
          tx: hash,
          root: tree.root,
          treeHash,
          holders: plan.leaves.length,
          revenueUnits: String(e.revenueUnits),
          distributableUnits: String(e.distributableUnits),
          operatorUnits: String(e.operatorUnits),
          distributedUnits: String(e.distributedUnits),
          withheldUnits: String(e.withheldUnits),
          unallocatedUnits: String(e.unallocatedUnits),
          excluded: e.excluded.map((x) => ({
            account: x.account,
            reason: x.reason,
            amountUnits: String(x.amountUnits),
            goesTo: x.goesTo,
          })),
          fundedUnits: String(increase),
          cumulativeTotalUnits: String(plan.cumulativeTotal),
        },
        'cumulative root published',
      )
      await options.afterStep?.('after-post')
      return { kind: 'published', epoch, plan, treeHash, fundedUnits: increase }
    },
    async currentTree() {
      const state = await chain.state()
      if (state.nextEpoch <= options.firstEpoch) return undefined
      const { epoch, tree } = await load(state.nextEpoch)
      return { epoch, tree }
    },
  }
}
