/**
 * The oracle guardian (GRIDROOT_ORACLE_ROLE=guardian): watches RevenueOracle's `EpochProposed`
 * events and rejects, within the challenge window, every pending root that is not what the
 * telemetry says (issue 10). Two compromised signer keys can propose a forged, self-consistent
 * tree, and anyone may finalize it once the window has passed (seen: paid after a 2 s window);
 * the honest submitter's refusal to finalize it (domain/submit-step.ts, `unsigned-pending`) does
 * not stop that. The guardian is what does.
 *
 * First, on every proposal and without the replay, the fast path (domain/guardian-fast-path.ts):
 * the proposal's own tree and readings archive from the artifact store through the distributor's
 * commitment gate, archive audit and paid-readings check; a failure is rejected at once
 * (attack10 F3: a restarted guardian re-reads telemetry.v1 for longer than the window). Passing
 * accepts nothing. Then it recomputes the pool epoch itself, as a `replay` signer does: telemetry.v1
 * from the beginning through the aggregator's rules (domain/replay.ts, fed by
 * domain/guardian-replay.ts), then `buildPoolEpoch` (domain/pool-epoch.ts) into root, totals,
 * tree and archive. The verdict (domain/guardian-verdict.ts) compares every committed field and
 * the artifacts; a proposal that differs is rejected with a bytes32 reason code from the
 * GUARDIAN_ROLE key (GRIDROOT_ORACLE_GUARDIAN_KEY), one that is the recomputed one is left to
 * finalize. Every decision is one log line and a count.
 *
 * Restartable and idempotent: the scan resumes at its checkpoint (domain/guardian-checkpoint.ts:
 * the oldest proposal not settled yet), every action is decided from chain state (a proposal
 * whose attempt the chain has moved past is settled; `reject` of one no longer pending reverts
 * NotPending and changes nothing), and the replay is rebuilt from Kafka on start. /healthz is 503
 * while the chain or the artifact store does not answer, the telemetry reader stalls, the key
 * lacks GUARDIAN_ROLE, or a root it judged bad (or could not check) is past its window: pending
 * (anyone may finalize it) or already final (kept in the checkpoint until a person clears it).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { type Address, createWalletClient, keccak256, toHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { revenueOracleAbi } from '../../contracts/abi/index.ts'
import type { EpochRootProposal } from '../../core/chain/epoch-root-typed-data.ts'
import type { DeviceRecord, DeviceRegistry } from '../../core/identity/registry.ts'
import { poolIdFromBytes32, poolIdToBytes32 } from '../../core/merkle/index.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { startDeploymentWatch } from '../../runtime/chain/deployment-watch.ts'
import { errorFields, errorSummary } from '../../runtime/chain/log-error.ts'
import { explainMinedRevert } from '../../runtime/chain/mined-revert.ts'
import { decodeRevert } from '../../runtime/chain/revert.ts'
import { submitInTurn } from '../../runtime/chain/send-queue.ts'
import { createChainClients } from '../../runtime/clients/chain.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { startProbeServer } from '../../runtime/http-probe-server.ts'
import type { Logger } from '../../runtime/log.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { checkAndWatchRegistry } from '../../runtime/registry-onchain.ts'
import { loadTariffBook } from '../../runtime/tariffs-file.ts'
import { PaidLedger, paidReadingsOf } from '../distributor/domain/paid-ledger.ts'
import { createOracleChain } from './adapters/chain.ts'
import { startTopicReader } from './adapters/kafka-reader.ts'
import type { OracleConfig } from './config.ts'
import { decodeArchive } from './domain/archive.ts'
import { chainHealth } from './domain/chain-health.ts'
import {
  type BadFinalRoot,
  decodeCheckpoint,
  encodeCheckpoint,
  type GuardianCheckpoint,
  nextCheckpointBlock,
  scanStart,
} from './domain/guardian-checkpoint.ts'
import { type FastPathResult, prepareFastPath } from './domain/guardian-fast-path.ts'
import { feedReplay, replayStatus } from './domain/guardian-replay.ts'
import {
  type ArtifactFindings,
  type ArtifactRead,
  artifactFindings,
  combineFastPath,
  type GuardianVerdict,
  guardianVerdict,
  type OwnView,
  reasonCode,
} from './domain/guardian-verdict.ts'
import { buildPoolEpoch, isProblem, type PoolEpochBuild } from './domain/pool-epoch.ts'
import type { Hex, Proposal } from './domain/proposal.ts'
import { TelemetryReplay } from './domain/replay.ts'
import { createOracleMetrics, type OracleMetrics } from './metrics.ts'
import type { ArtifactStore, EpochRecord } from './ports.ts'

const GUARDIAN_ROLE = keccak256(toHex('GUARDIAN_ROLE'))
/** Blocks per eth_getLogs call: within what hosted RPC endpoints allow. */
const SCAN_CHUNK_BLOCKS = 5_000n
/** A pass over the proposals running this long means the chain does not answer (as the submitter). */
const CHAIN_PASS_STALL_MS = 30_000
/** Decisions kept for /healthz. */
const RECENT_DECISIONS = 32
/** CPU work (the fast path's audit, the replay's records) runs in slices this long between which the event loop runs. */
const SLICE_MS = 20
/** Records of a Kafka batch fed to the replay between two turns of the event loop. */
const REPLAY_SLICE_RECORDS = 250

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** One `EpochProposed` event of a pool the guardian knows. */
export interface ProposedEvent {
  /** The proposal with the attempt it was signed under. */
  readonly proposal: Proposal
  readonly finalizesAtSec: bigint
  readonly signers: readonly Hex[]
  readonly blockNumber: bigint
  readonly txHash: Hex
}

export type RejectOutcome =
  | { readonly kind: 'rejected'; readonly tx: Hex; readonly minedAtSec: bigint }
  /** The chain no longer holds it as pending (rejected by another guardian, or finalized). */
  | { readonly kind: 'not-pending' }
  | { readonly kind: 'window-closed' }

/** RevenueOracle as the guardian needs it. */
export interface GuardianChain {
  readonly address: Hex
  headBlock(): Promise<bigint>
  /** EpochProposed events of blocks [from, to]; `foreign` are those whose pool id is no gridroot id. */
  proposed(
    fromBlock: bigint,
    toBlock: bigint,
  ): Promise<{ readonly events: ProposedEvent[]; readonly foreign: readonly Hex[] }>
  epochRecord(poolId: string, epoch: number): Promise<EpochRecord>
  /** The pool's first epoch on-chain (RevenueOracle.poolOf). */
  firstEpoch(poolId: string): Promise<number>
  /** The proposal of the pool epoch's final attempt, every field; undefined when it is not final. */
  finalProposal(poolId: string, epoch: number): Promise<Proposal | undefined>
  /** Chain time, seconds. */
  nowSec(): Promise<bigint>
  hasGuardianRole(): Promise<boolean>
  reject(poolId: string, epoch: number, reason: Hex): Promise<RejectOutcome>
}

export interface CheckpointFile {
  load(): Promise<GuardianCheckpoint | undefined>
  save(checkpoint: GuardianCheckpoint): Promise<void>
}

export interface GuardianDeps {
  readonly registry: DeviceRegistry
  readonly replay: TelemetryReplay
  /** telemetry.v1's partition ends (high watermarks) now. */
  readonly telemetryEnds: () => Promise<ReadonlyMap<number, bigint>>
  readonly graceMs: number
  readonly store: ArtifactStore
  readonly chain: GuardianChain
  readonly checkpoint: CheckpointFile
  readonly identity: { readonly chainId: number; readonly oracle: Address; readonly deployedAtBlock: bigint }
  readonly metrics: OracleMetrics
  readonly logger: Logger
  readonly nowMs?: () => number
}

/** A decision as /healthz lists it. */
export interface GuardianDecision {
  readonly poolId: string
  readonly epoch: number
  readonly attempt: number
  readonly root: Hex
  readonly decision: GuardianVerdict['kind']
  readonly reason?: string
  readonly detail: string
  readonly at: string
}

export interface GuardianProblem {
  readonly code:
    | 'NOT_GUARDIAN'
    | 'BAD_ROOT_FINAL'
    | 'BAD_ROOT_UNREJECTED'
    | 'UNCHECKED_ROOT_PAST_WINDOW'
    | 'ARTIFACT_STORE'
    | 'AUDIT_DISAGREES_WITH_REPLAY'
  readonly message: string
  readonly [key: string]: unknown
}

interface Tracked {
  readonly key: string
  readonly event: ProposedEvent
  verdict: GuardianVerdict | undefined
  /** The guardian's own build, kept to put artifacts back. */
  build: PoolEpochBuild | undefined
  /** The fast path's result (domain/guardian-fast-path.ts); run again while an artifact is missing. */
  fast: FastPathResult | undefined
  /** The undecided code last logged (one line per code). */
  undecidedLogged: string | undefined
}

export interface Guardian {
  /** Reads the checkpoint and places the scan; once, before the first tick. */
  start(): Promise<void>
  /** One pass: scan new EpochProposed events, then decide and act on every open proposal. */
  tick(): Promise<void>
  readonly state: {
    chainHealthy: boolean
    /** When the pass in progress started waiting on the chain (reset after CPU work); undefined between passes. */
    passStartedAtMs: number | undefined
    /** CPU work the pass is doing, not waiting on the chain (the fast path's audit), for /healthz. */
    activity: string | undefined
    lastError: string | undefined
    hasGuardianRole: boolean | undefined
    storeProblem: string | undefined
    checkpointError: string | undefined
    scan: { fromBlock: bigint; resumed: boolean; why: string; nextBlock: bigint }
    readonly open: Map<string, Tracked>
    badFinalRoots: BadFinalRoot[]
    /** Bad or unchecked pending roots whose window passed, by key. */
    readonly unrejected: Map<string, GuardianProblem>
    /** Roots the fast path refused but the guardian's own replay builds exactly, by key. */
    readonly auditDisagreements: Map<string, GuardianProblem>
    readonly decisions: GuardianDecision[]
  }
  problems(): GuardianProblem[]
}

const keyOf = (p: Proposal) => `${p.poolId}/${p.epoch}/${p.attempt}`

export function createGuardian(deps: GuardianDeps): Guardian {
  const { chain, logger, metrics, replay } = deps
  const nowMs = deps.nowMs ?? Date.now
  const pools = new Set([...deps.registry.devices()].map((d) => d.poolId))
  const devicesOf = new Map<string, Set<string>>()
  const poolDevices = new Map<string, Map<string, DeviceRecord>>()
  for (const d of deps.registry.devices()) {
    const s = devicesOf.get(d.poolId) ?? new Set<string>()
    s.add(d.deviceId)
    devicesOf.set(d.poolId, s)
    const m = poolDevices.get(d.poolId) ?? new Map<string, DeviceRecord>()
    m.set(d.deviceId, d)
    poolDevices.set(d.poolId, m)
  }
  /** Per pool: the readings its final epochs paid (from `readFrom` on), read from their archives once, then grown. */
  const ledgers = new Map<string, { ledger: PaidLedger; readFrom: number }>()
  const foreignLogged = new Set<string>()
  const state: Guardian['state'] = {
    chainHealthy: true,
    passStartedAtMs: undefined,
    activity: undefined,
    lastError: undefined,
    hasGuardianRole: undefined,
    storeProblem: undefined,
    checkpointError: undefined,
    scan: { fromBlock: deps.identity.deployedAtBlock, resumed: false, why: 'not started', nextBlock: 0n },
    open: new Map(),
    badFinalRoots: [],
    unrejected: new Map(),
    auditDisagreements: new Map(),
    decisions: [],
  }
  let scanFrom = deps.identity.deployedAtBlock
  let saved: string | undefined

  const fieldsOf = (t: Tracked) => ({
    poolId: t.event.proposal.poolId,
    epoch: t.event.proposal.epoch,
    attempt: t.event.proposal.attempt,
    root: t.event.proposal.root,
    finalizesAt: new Date(Number(t.event.finalizesAtSec) * 1000).toISOString(),
    signers: t.event.signers,
    proposedIn: t.event.txHash,
  })

  const note = (t: Tracked, v: GuardianVerdict) => {
    const { proposal } = t.event
    const reason = v.kind === 'reject' ? v.reason : v.kind === 'undecided' ? v.code : 'MATCH'
    state.decisions.push({
      poolId: proposal.poolId,
      epoch: proposal.epoch,
      attempt: proposal.attempt,
      root: proposal.root,
      decision: v.kind,
      reason,
      detail: v.detail,
      at: new Date(nowMs()).toISOString(),
    })
    if (state.decisions.length > RECENT_DECISIONS) state.decisions.shift()
    metrics.guardianDecisions.inc({ pool: proposal.poolId, decision: v.kind, reason })
  }

  const readArtifact = async (hash: Hex): Promise<ArtifactRead> => {
    try {
      const bytes = await deps.store.get(hash)
      state.storeProblem = undefined
      return bytes === undefined ? { kind: 'missing' } : { kind: 'bytes', bytes }
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ARTIFACT_CORRUPT')
        return { kind: 'corrupt', detail: errorSummary(error) }
      state.storeProblem = `reading artifact ${hash}: ${errorSummary(error)}`
      throw error
    }
  }

  /** CPU work done: the chain-wait clock of the pass starts again (the work was not the chain). */
  const workDone = () => {
    if (state.activity === undefined) return
    state.activity = undefined
    if (state.passStartedAtMs !== undefined) state.passStartedAtMs = nowMs()
  }

  /**
   * The pool's paid ledger through its final epochs before `epoch`: each read once from its
   * archive (all of them after a start), then grown. It stops at an epoch whose archive the store
   * does not give: the check then runs against the epochs before it, and the next call tries again.
   */
  const ledgerBefore = async (poolId: string, epoch: number) => {
    let entry = ledgers.get(poolId)
    if (entry === undefined || entry.ledger.through > epoch) {
      const first = await chain.firstEpoch(poolId)
      entry = { ledger: new PaidLedger(first), readFrom: first }
      ledgers.set(poolId, entry)
    }
    const { ledger } = entry
    while (ledger.through < epoch) {
      const e = ledger.through
      const final = await chain.finalProposal(poolId, e)
      if (final === undefined) break
      const read = await readArtifact(final.archiveHash)
      if (read.kind !== 'bytes') break
      state.activity = `reading the paid readings of ${poolId} epoch ${e} (up to ${epoch - 1}) from its archive`
      try {
        ledger.add(e, paidReadingsOf(decodeArchive(read.bytes)))
      } catch (error) {
        logger.error(
          { poolId, epoch: e, archiveHash: final.archiveHash, error: errorFields(error) },
          'guardian: the archive of a final epoch does not decode; its paid readings are not in the ledger',
        )
        workDone()
        break
      }
      await turn()
      workDone()
    }
    return entry
  }

  /** The fast path (domain/guardian-fast-path.ts): the proposal's own artifacts, no replay. */
  const fastPath = async (
    p: Proposal,
  ): Promise<{ result: FastPathResult; artifacts: () => ArtifactFindings }> => {
    const tree = await readArtifact(p.treeHash)
    const archive = await readArtifact(p.archiveHash)
    const artifacts = () =>
      artifactFindings({ pending: p, tree, archive, poolDeviceIds: devicesOf.get(p.poolId) ?? new Set() })
    const prepared = prepareFastPath({
      pending: p,
      tree,
      archive,
      devices: poolDevices.get(p.poolId) ?? new Map(),
      rules: replay,
    })
    if (prepared.kind !== 'audit') return { result: prepared, artifacts }
    const total = prepared.deviceIds.length
    let sliceStart = performance.now()
    try {
      for (const [i, deviceId] of prepared.deviceIds.entries()) {
        const rejected = prepared.auditDevice(deviceId)
        if (rejected !== undefined) return { result: rejected, artifacts }
        if (performance.now() - sliceStart < SLICE_MS) continue
        state.activity = `fast path of ${keyOf(p)}: auditing its readings archive, ${i + 1} of ${total} devices`
        await turn()
        sliceStart = performance.now()
      }
    } finally {
      workDone()
    }
    const { ledger, readFrom } = await ledgerBefore(p.poolId, p.epoch)
    return { result: prepared.finish(ledger, readFrom), artifacts }
  }

  /**
   * The fast path's rejection, or undefined when it rejects nothing (passed: the replay decides;
   * an artifact missing: as before, and the fast path runs again on the next pass).
   */
  const fastReject = async (
    t: Tracked,
  ): Promise<Extract<GuardianVerdict, { kind: 'reject' }> | undefined> => {
    if (t.fast?.kind === 'passed') return undefined
    const { result, artifacts } = await fastPath(t.event.proposal)
    const changed = t.fast?.kind !== result.kind
    t.fast = result
    if (result.kind === 'passed') {
      logger.info(
        { ...fieldsOf(t), fastPath: 'passed', detail: result.detail },
        'guardian: fast path passed (tree, archive audit, paid readings); the replay comparison decides',
      )
      return undefined
    }
    if (result.kind === 'missing') {
      if (changed)
        logger.warn(
          { ...fieldsOf(t), fastPath: 'missing', detail: result.detail },
          'guardian: fast path cannot check the proposal: a committed artifact is not in the store',
        )
      return undefined
    }
    return {
      kind: 'reject',
      reason: result.reason,
      detail: result.detail,
      differences: [],
      artifacts: artifacts(),
    }
  }

  /**
   * The verdict on a proposal: the fast path's rejection unless the guardian's own replay, caught
   * up, builds exactly this proposal (root, totals, tree and archive hashes): then the archive
   * audit is what is wrong (a false negative of the recomputation, as attack10 F1's was), and
   * rejecting would only make the signers sign the same root again and be rejected again, for
   * good. That root is not rejected; /healthz is 503 AUDIT_DISAGREES_WITH_REPLAY with both
   * verdicts (the distributor's own audit would stop the pool at it too).
   */
  const judge = async (t: Tracked): Promise<GuardianVerdict> => {
    const fast = await fastReject(t)
    const combined = combineFastPath(fast, await decide(t))
    if (fast === undefined || combined.verdict !== fast) {
      if (fast !== undefined && combined.auditDisagrees) {
        const message = `${t.key}: the guardian's own replay builds exactly the proposed root, but the fast path refuses its artifacts (${fast.reason}: ${fast.detail}); not rejected. The archive recomputation (verify) disagrees with the replay: a bug to report, and the distributor's audit stops the pool at this epoch`
        state.auditDisagreements.set(t.key, {
          code: 'AUDIT_DISAGREES_WITH_REPLAY',
          ...fieldsOf(t),
          reason: fast.reason,
          message,
        })
        logger.error({ ...fieldsOf(t), fastPath: fast.reason, detail: fast.detail }, message)
      }
      return combined.verdict
    }
    note(t, fast)
    logger.error(
      {
        ...fieldsOf(t),
        decision: 'reject',
        fastPath: true,
        reason: fast.reason,
        artifacts: fast.artifacts,
        detail: fast.detail,
      },
      'guardian: the proposal is not backed by its own artifacts (fast path); rejecting it',
    )
    return fast
  }

  const ownView = async (p: Proposal): Promise<{ own: OwnView; build?: PoolEpochBuild }> => {
    // The ends are read after the proposal was seen: an epoch an honest signer signed was
    // closed, its last records (and watermark markers) are before them.
    const ends = await deps.telemetryEnds()
    const status = replayStatus({
      grid: replay.settings.grid,
      graceMs: deps.graceMs,
      epoch: p.epoch,
      watermarkOf: (partition) => replay.watermarkOf(partition),
      ends,
      positions: replay.positions(),
    })
    if (status.kind !== 'passed') return { own: status }
    const built = buildPoolEpoch(
      p.poolId,
      p.epoch,
      p.attempt,
      replay.epochResults(p.epoch),
      (d) => replay.paidReadings(p.epoch, d),
      replay,
    )
    return isProblem(built)
      ? { own: { kind: 'problem', problem: built } }
      : { own: { kind: 'built', build: built }, build: built }
  }

  const decide = async (t: Tracked): Promise<GuardianVerdict> => {
    const p = t.event.proposal
    const { own, build } = await ownView(p)
    const verdict = guardianVerdict({
      pending: p,
      own,
      tree: await readArtifact(p.treeHash),
      archive: await readArtifact(p.archiveHash),
      poolDeviceIds: devicesOf.get(p.poolId) ?? new Set(),
    })
    t.build = build
    if (verdict.kind === 'undecided') {
      if (t.undecidedLogged !== verdict.code) {
        t.undecidedLogged = verdict.code
        note(t, verdict)
        logger.warn(
          {
            ...fieldsOf(t),
            code: verdict.code,
            detail: verdict.detail,
            artifacts: verdict.artifacts,
            fastPath: t.fast?.kind,
            fastPathDetail: t.fast?.detail,
          },
          'guardian: cannot check the pending root yet',
        )
      }
      return verdict
    }
    note(t, verdict)
    if (verdict.kind === 'accept') {
      logger.info(
        { ...fieldsOf(t), decision: 'accept', detail: verdict.detail, artifacts: verdict.artifacts },
        'guardian: the proposed root is the recomputed one; not rejecting',
      )
      if (verdict.restore.length > 0 && build) await restore(t, verdict.restore, build)
    } else
      logger.error(
        {
          ...fieldsOf(t),
          decision: 'reject',
          reason: verdict.reason,
          recomputedRoot: verdict.recomputedRoot,
          differences: verdict.differences,
          artifacts: verdict.artifacts,
          detail: verdict.detail,
        },
        'guardian: the proposed root is not what the telemetry gives; rejecting it',
      )
    return verdict
  }

  /** The guardian's own bytes hash to the committed hashes: the store gets them back. */
  const restore = async (t: Tracked, what: readonly ('tree' | 'archive')[], build: PoolEpochBuild) => {
    for (const which of what) {
      const bytes = which === 'tree' ? build.treeBytes : build.archiveBytes
      try {
        const hash = await deps.store.put(bytes)
        metrics.guardianArtifactsRestored.inc({ pool: t.event.proposal.poolId })
        logger.warn(
          { ...fieldsOf(t), artifact: which, hash },
          'guardian: a committed artifact was missing or altered in the store; put back from its own identical build',
        )
      } catch (error) {
        state.storeProblem = `restoring the ${which} of ${t.key}: ${errorSummary(error)}`
        logger.error(
          { ...fieldsOf(t), artifact: which, error: errorFields(error) },
          'guardian: artifact not restored',
        )
      }
    }
  }

  const addBadFinal = (t: Tracked, v: Extract<GuardianVerdict, { kind: 'reject' }>) => {
    const { proposal } = t.event
    state.unrejected.delete(t.key)
    if (state.badFinalRoots.some((b) => `${b.poolId}/${b.epoch}/${b.attempt}` === t.key)) return
    const bad: BadFinalRoot = {
      poolId: proposal.poolId,
      epoch: proposal.epoch,
      attempt: proposal.attempt,
      root: proposal.root,
      reason: v.reason,
      detail: v.detail,
      seenAt: new Date(nowMs()).toISOString(),
    }
    state.badFinalRoots.push(bad)
    logger.fatal(
      { ...fieldsOf(t), reason: v.reason, detail: v.detail },
      'guardian: a root that is not what the telemetry gives went FINAL before it was rejected; its revenue can be paid out. A person must act (pause the pool distributor, investigate the signer keys)',
    )
  }

  const act = async (t: Tracked, record: EpochRecord): Promise<boolean> => {
    const { proposal } = t.event
    if (record.attempt > proposal.attempt) {
      // Rejected (by this guardian on an earlier pass or process, or another one): settled.
      state.unrejected.delete(t.key)
      return true
    }
    if (record.status !== 'pending' && record.status !== 'final') return false
    if (t.verdict === undefined || t.verdict.kind === 'undecided') t.verdict = await judge(t)
    const v = t.verdict
    if (record.status === 'final') {
      if (v.kind === 'accept') return true
      if (v.kind === 'reject') {
        addBadFinal(t, v)
        return true
      }
      state.unrejected.set(t.key, {
        code: 'UNCHECKED_ROOT_PAST_WINDOW',
        ...fieldsOf(t),
        message: `${t.key} went final before the guardian could check it (${v.code}: ${v.detail})`,
      })
      return false
    }
    if (v.kind === 'accept') return false
    if (v.kind === 'undecided') {
      if ((await chain.nowSec()) >= t.event.finalizesAtSec)
        state.unrejected.set(t.key, {
          code: 'UNCHECKED_ROOT_PAST_WINDOW',
          ...fieldsOf(t),
          message: `${t.key} is past its challenge window and the guardian could not check it (${v.code}: ${v.detail}); anyone can finalize it`,
        })
      return false
    }
    const outcome = await chain.reject(proposal.poolId, proposal.epoch, reasonCode(v.reason))
    if (outcome.kind === 'rejected') {
      const marginSec = Number(t.event.finalizesAtSec - outcome.minedAtSec)
      metrics.guardianRejections.inc({ pool: proposal.poolId, reason: v.reason })
      metrics.guardianRejectMarginSeconds.set({ pool: proposal.poolId }, marginSec)
      state.unrejected.delete(t.key)
      logger.warn(
        { ...fieldsOf(t), reason: v.reason, tx: outcome.tx, windowLeftSec: marginSec },
        'guardian: rejected on-chain; the signers sign attempt + 1',
      )
      return true
    }
    if (outcome.kind === 'window-closed') {
      if (!state.unrejected.has(t.key))
        logger.fatal(
          { ...fieldsOf(t), reason: v.reason, detail: v.detail },
          'guardian: the challenge window of a bad root passed before it was rejected; anyone can finalize it now',
        )
      state.unrejected.set(t.key, {
        code: 'BAD_ROOT_UNREJECTED',
        ...fieldsOf(t),
        reason: v.reason,
        message: `${t.key}: ${v.detail}; its challenge window passed before the guardian rejected it`,
      })
    }
    // not-pending: the chain moved between the read and the send; the next pass reads it again.
    return false
  }

  const saveCheckpoint = async (scannedThrough: bigint) => {
    const nextBlock = nextCheckpointBlock(
      scannedThrough,
      [...state.open.values()].map((t) => t.event.blockNumber),
    )
    state.scan.nextBlock = nextBlock
    metrics.guardianCheckpointBlock.set(Number(nextBlock))
    const checkpoint: GuardianCheckpoint = {
      chainId: deps.identity.chainId,
      oracle: deps.identity.oracle.toLowerCase(),
      deployedAtBlock: deps.identity.deployedAtBlock,
      nextBlock,
      badFinalRoots: state.badFinalRoots,
    }
    const text = encodeCheckpoint(checkpoint)
    if (text === saved) return
    try {
      await deps.checkpoint.save(checkpoint)
      saved = text
      state.checkpointError = undefined
    } catch (error) {
      // Not fatal: a restart rescans from an older block, which costs time, not safety.
      state.checkpointError = errorSummary(error)
      logger.warn({ error: errorFields(error) }, 'guardian: checkpoint not written')
    }
  }

  return {
    state,
    async start() {
      let checkpoint: GuardianCheckpoint | undefined
      try {
        checkpoint = await deps.checkpoint.load()
      } catch (error) {
        logger.error(
          { error: errorFields(error) },
          'guardian: checkpoint ignored; scanning from the deployment',
        )
      }
      const head = await chain.headBlock()
      const start = scanStart(checkpoint, { ...deps.identity, headBlock: head })
      scanFrom = start.fromBlock
      state.scan = { ...start, nextBlock: start.fromBlock }
      if (start.resumed && checkpoint) state.badFinalRoots = [...checkpoint.badFinalRoots]
      logger.info(
        { fromBlock: String(start.fromBlock), resumed: start.resumed, why: start.why, head: String(head) },
        start.resumed
          ? 'guardian: resuming from its checkpoint'
          : 'guardian: scanning from the deployment block',
      )
    },
    async tick() {
      state.passStartedAtMs = nowMs()
      try {
        state.hasGuardianRole = await chain.hasGuardianRole()
        const head = await chain.headBlock()
        while (scanFrom <= head) {
          const to = scanFrom + SCAN_CHUNK_BLOCKS - 1n < head ? scanFrom + SCAN_CHUNK_BLOCKS - 1n : head
          const { events, foreign } = await chain.proposed(scanFrom, to)
          for (const word of foreign)
            if (!foreignLogged.has(word)) {
              foreignLogged.add(word)
              logger.warn(
                { poolId: word },
                'guardian: a proposal for a pool id that is not a gridroot pool id; not checked',
              )
            }
          for (const event of events) {
            const { poolId } = event.proposal
            if (!pools.has(poolId)) {
              if (!foreignLogged.has(poolId)) {
                foreignLogged.add(poolId)
                logger.warn(
                  { poolId },
                  'guardian: a proposal for a pool that is not in its registry; not checked',
                )
              }
              continue
            }
            const key = keyOf(event.proposal)
            if (!state.open.has(key))
              state.open.set(key, {
                key,
                event,
                verdict: undefined,
                build: undefined,
                fast: undefined,
                undecidedLogged: undefined,
              })
          }
          scanFrom = to + 1n
        }
        const open = [...state.open.values()].sort((a, b) =>
          a.event.finalizesAtSec < b.event.finalizesAtSec ? -1 : 1,
        )
        for (const t of open) {
          const { poolId, epoch } = t.event.proposal
          if (await act(t, await chain.epochRecord(poolId, epoch))) state.open.delete(t.key)
        }
        metrics.guardianOpenProposals.set(state.open.size)
        metrics.guardianBadFinalRoots.set(state.badFinalRoots.length)
        metrics.guardianUnrejected.set(state.unrejected.size)
        await saveCheckpoint(scanFrom - 1n)
        if (!state.chainHealthy) logger.info('guardian: chain reachable again')
        state.chainHealthy = true
        state.lastError = undefined
        metrics.chainUnavailable.set(0)
      } catch (error) {
        if (state.chainHealthy || state.lastError !== errorSummary(error))
          logger.warn({ error: errorFields(error) }, 'guardian: pass failed; retrying')
        if (state.storeProblem === undefined) {
          state.chainHealthy = false
          metrics.chainUnavailable.set(1)
        }
        state.lastError = errorSummary(error)
      } finally {
        state.passStartedAtMs = undefined
        state.activity = undefined
      }
    },
    problems() {
      const out: GuardianProblem[] = []
      if (state.hasGuardianRole === false)
        out.push({
          code: 'NOT_GUARDIAN',
          address: chain.address,
          message: `${chain.address} does not hold GUARDIAN_ROLE on RevenueOracle: grant it (npm run deploy grants GRIDROOT_ORACLE_GUARDIAN) or configure the guardian's key`,
        })
      for (const b of state.badFinalRoots)
        out.push({
          code: 'BAD_ROOT_FINAL',
          ...b,
          message: `${b.poolId} epoch ${b.epoch} attempt ${b.attempt}: root ${b.root} went final although ${b.reason} (${b.detail}); remove it from the checkpoint file once dealt with`,
        })
      out.push(...state.unrejected.values())
      out.push(...state.auditDisagreements.values())
      if (state.storeProblem !== undefined) out.push({ code: 'ARTIFACT_STORE', message: state.storeProblem })
      return out
    },
  }
}

/** The guardian's view of RevenueOracle through viem. */
export function createGuardianChain(options: {
  readonly endpoint: Endpoints['chain']
  readonly oracle: Address
  readonly fromBlock: bigint
  readonly key: Hex
}): GuardianChain {
  const reads = createOracleChain({
    endpoint: options.endpoint,
    oracle: options.oracle,
    fromBlock: options.fromBlock,
  })
  const { publicClient, chain, transport } = createChainClients(options.endpoint)
  const account = privateKeyToAccount(options.key)
  const wallet = createWalletClient({ account, chain, transport })
  const address = options.oracle
  const outcomeOf = (errorName: string | undefined): RejectOutcome | undefined =>
    errorName === 'NotPending'
      ? { kind: 'not-pending' }
      : errorName === 'ChallengeWindowClosed'
        ? { kind: 'window-closed' }
        : undefined
  return {
    address: account.address.toLowerCase() as Hex,
    headBlock: () => publicClient.getBlockNumber(),
    async proposed(fromBlock, toBlock) {
      const logs = (await publicClient.getContractEvents({
        address,
        abi: revenueOracleAbi,
        eventName: 'EpochProposed',
        fromBlock,
        toBlock,
      } as never)) as unknown as {
        blockNumber: bigint
        transactionHash: Hex
        args: {
          attempt: number
          proposal: EpochRootProposal
          finalizesAt: bigint
          signers: readonly Address[]
        }
      }[]
      const events: ProposedEvent[] = []
      const foreign: Hex[] = []
      for (const log of logs) {
        const p = log.args.proposal
        let poolId: string
        try {
          poolId = poolIdFromBytes32(p.poolId)
        } catch {
          foreign.push(p.poolId)
          continue
        }
        events.push({
          proposal: {
            poolId,
            epoch: Number(p.epoch),
            attempt: Number(log.args.attempt),
            root: p.root.toLowerCase() as Hex,
            revenueUnits: p.revenueUnits,
            energyWh: p.energyWh,
            leafCount: Number(p.leafCount),
            treeHash: p.treeHash.toLowerCase() as Hex,
            archiveHash: p.archiveHash.toLowerCase() as Hex,
          },
          finalizesAtSec: BigInt(log.args.finalizesAt),
          signers: log.args.signers.map((s) => s.toLowerCase() as Hex),
          blockNumber: log.blockNumber,
          txHash: log.transactionHash,
        })
      }
      return { events, foreign }
    },
    epochRecord: (poolId, epoch) => reads.epochRecord(poolId, epoch),
    async firstEpoch(poolId) {
      const pool = await reads.pool(poolId)
      if (pool === undefined) throw new Error(`pool ${poolId} is not registered on RevenueOracle`)
      return pool.firstEpoch
    },
    async finalProposal(poolId, epoch) {
      const record = await reads.epochRecord(poolId, epoch)
      if (record.status !== 'final') return undefined
      return reads.proposalOf(poolId, epoch, record.attempt)
    },
    nowSec: () => reads.nowSec(),
    hasGuardianRole: () =>
      publicClient.readContract({
        address,
        abi: revenueOracleAbi,
        functionName: 'hasRole',
        args: [GUARDIAN_ROLE, account.address],
      } as never) as Promise<boolean>,
    async reject(poolId, epoch, reason) {
      const request = {
        address,
        abi: revenueOracleAbi,
        functionName: 'reject',
        args: [poolIdToBytes32(poolId), BigInt(epoch), reason],
        account,
      } as const
      // Simulated first: a reject the chain would refuse says why (decoded) without a transaction.
      try {
        await publicClient.simulateContract(request as never)
      } catch (error) {
        const known = outcomeOf(decodeRevert(error)?.errorName)
        if (known) return known
        throw error
      }
      const hash = await submitInTurn(account.address, () => wallet.writeContract(request as never))
      const receipt = await publicClient.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success') {
        const mined = await explainMinedRevert(publicClient, receipt)
        const known = outcomeOf(mined.revert?.errorName)
        if (known) return known
        throw new Error(`reject ${poolId}/${epoch} was mined but reverted (${hash}): ${mined.why}`)
      }
      const block = await publicClient.getBlock({ blockNumber: receipt.blockNumber })
      return { kind: 'rejected', tx: hash, minedAtSec: block.timestamp }
    },
  }
}

/** The checkpoint in a file of its own, written atomically (a temporary file renamed). */
export function fileCheckpoint(path: string): CheckpointFile {
  return {
    async load() {
      let text: string
      try {
        text = await readFile(path, 'utf8')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw error
      }
      return decodeCheckpoint(text)
    },
    async save(checkpoint) {
      await mkdir(dirname(path), { recursive: true })
      const temporary = `${path}.${process.pid}.tmp`
      await writeFile(temporary, encodeCheckpoint(checkpoint))
      await rename(temporary, path)
    },
  }
}

export interface GuardianService {
  readonly metrics: OracleMetrics
  readonly metricsPort: number
  stop(): Promise<void>
}

/** Wires a guardian process: telemetry.v1 replay, the chain, the artifact store, /healthz and /metrics. */
export async function startGuardianService(config: OracleConfig, logger: Logger): Promise<GuardianService> {
  const registry = await loadRegistryFile(config.registryFile)
  // The guardian judges roots by rebuilding them with this registry: one that is not the chain's
  // would reject every genuine root (refused at start; while running, it judges nothing).
  const registryWatch = await checkAndWatchRegistry({
    contractsFile: config.contractsFile,
    chain: config.endpoints.chain,
    registry: () => registry,
    registryFile: config.registryFile,
    logger,
  })
  const registryMismatch = () => registryWatch?.problems().find((p) => p.code === 'REGISTRY_ROOT_MISMATCH')
  const contracts = loadContractsFile(config.contractsFile)
  const metrics = createOracleMetrics()
  const oracle = contracts.contracts.revenueOracle as Address
  const deployedAtBlock = BigInt(contracts.deployedAtBlock)
  await ensureTopics(config.endpoints.kafka, config.topics.all)
  const kafka = createKafka(config.endpoints.kafka, config.instanceId)
  const deployment = startDeploymentWatch({
    chain: config.endpoints.chain,
    contracts: { RevenueOracle: oracle },
    contractsFile: config.contractsFile,
    logger,
  })
  await deployment.check()
  const tariffs = await loadTariffBook(config.tariffsFile, config.grid)
  const replay = new TelemetryReplay(config.replay, tariffs, registry)
  const chain = createGuardianChain({
    endpoint: config.endpoints.chain,
    oracle,
    fromBlock: deployedAtBlock,
    key: config.guardianKey as Hex,
  })
  const reader = await startTopicReader(kafka, {
    topic: config.topics.telemetry.name,
    groupId: `${config.instanceId}.telemetry-replay`,
    logger,
    limits: config.consumer,
    // In slices with a turn of the event loop between them: a restart re-reads the whole topic,
    // and a batch handled in one go kept /healthz and the passes (the fast path) from running for
    // tens of seconds (attack10 F3).
    onRecords: async (records) => {
      for (let i = 0; i < records.length; i += REPLAY_SLICE_RECORDS) {
        const slice = records.slice(i, i + REPLAY_SLICE_RECORDS)
        feedReplay(replay, slice, (r, what, error) => {
          metrics.undecodable.inc()
          logger.warn(
            { error: errorFields(error), partition: r.partition, offset: r.offset },
            what === 'marker' ? 'watermark marker skipped' : 'telemetry record does not decode; skipped',
          )
        })
        metrics.replayedRecords.inc(slice.length)
        await turn()
      }
    },
  })
  const replayStartedAtMs = Date.now()
  // What "caught up" means: read to the topic's ends as of the start.
  const endsAtStart = await reader.ends()
  let caughtUpAfterMs: number | undefined
  const replayProgress = () => {
    const positions = reader.positions()
    let total = 0n
    let read = 0n
    for (const [partition, end] of endsAtStart) {
      const at = positions.get(partition) ?? 0n
      total += end
      read += at < end ? at : end
    }
    if (caughtUpAfterMs === undefined && read >= total) {
      caughtUpAfterMs = Date.now() - replayStartedAtMs
      logger.info(
        { records: String(total), ms: caughtUpAfterMs },
        'guardian: telemetry.v1 replayed to its end as of start; its own builds decide from now on',
      )
    }
    return caughtUpAfterMs !== undefined
      ? { caughtUp: true, caughtUpAfterMs }
      : {
          caughtUp: false,
          records: String(read),
          ofRecords: String(total),
          detail: `replaying telemetry.v1 from the beginning: ${read} of ${total} records as of start (${total === 0n ? 100 : Number((read * 100n) / total)}%, ${Math.round((Date.now() - replayStartedAtMs) / 1000)} s); until then only the fast path (tree, archive audit, paid readings) judges proposals`,
        }
  }
  const guardian = createGuardian({
    registry,
    replay,
    telemetryEnds: () => reader.ends(),
    graceMs: config.replay.graceMs,
    store: createFileArtifactStore(config.artifacts),
    chain,
    checkpoint: fileCheckpoint(config.guardianCheckpointFile),
    identity: { chainId: config.endpoints.chain.chainId, oracle, deployedAtBlock },
    metrics,
    logger,
  })
  await guardian.start()
  let ticking = false
  const timer = setInterval(() => {
    // After a chain reset nothing it knows is of the chain it would send to (attack10b F2).
    if (ticking || deployment.problem?.code === 'CHAIN_RESET' || registryMismatch() !== undefined) return
    replayProgress()
    ticking = true
    void guardian.tick().finally(() => {
      ticking = false
    })
  }, config.pollMs)
  const probe = await startProbeServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health: () => {
      const s = guardian.state
      const pass = chainHealth({
        lastPassOk: s.chainHealthy,
        // CPU work in the pass (the fast path's audit) is not the chain's wait.
        passStartedAtMs: s.activity === undefined ? s.passStartedAtMs : undefined,
        nowMs: Date.now(),
        stallMs: Math.max(CHAIN_PASS_STALL_MS, 3 * config.pollMs),
      })
      const verdict = reader.consumer?.()
      const consumers = verdict === undefined || verdict.state === 'healthy' ? [] : [verdict]
      const mismatch = registryMismatch()
      const problems = [
        ...(deployment.problem === undefined ? [] : [deployment.problem]),
        ...(mismatch === undefined ? [] : [mismatch]),
        ...guardian.problems(),
      ]
      return {
        ok: pass.healthy && consumers.length === 0 && problems.length === 0,
        role: 'guardian',
        address: chain.address,
        hasGuardianRole: s.hasGuardianRole,
        chainHealthy: pass.healthy,
        ...(pass.detail === undefined ? {} : { chainProblem: pass.detail }),
        ...(problems.length > 0 ? { problems } : {}),
        ...(consumers.length > 0 ? { consumers } : {}),
        ...(s.activity === undefined ? {} : { activity: s.activity }),
        replay: replayProgress(),
        lastError: s.lastError,
        scan: {
          startedAtBlock: String(s.scan.fromBlock),
          resumedFromCheckpoint: s.scan.resumed,
          checkpointBlock: String(s.scan.nextBlock),
          ...(s.checkpointError === undefined ? {} : { checkpointError: s.checkpointError }),
        },
        open: [...s.open.values()].map((t) => ({
          poolId: t.event.proposal.poolId,
          epoch: t.event.proposal.epoch,
          attempt: t.event.proposal.attempt,
          root: t.event.proposal.root,
          finalizesAt: new Date(Number(t.event.finalizesAtSec) * 1000).toISOString(),
          verdict: t.verdict?.kind,
          fastPath: t.fast?.kind,
        })),
        decisions: s.decisions,
      }
    },
  })
  logger.info(
    { address: chain.address, oracle, checkpoint: config.guardianCheckpointFile },
    'oracle guardian started',
  )
  return {
    metrics,
    metricsPort: probe.port,
    async stop() {
      clearInterval(timer)
      deployment.stop()
      registryWatch?.stop()
      await reader.stop()
      await probe.close()
      logger.info('oracle guardian stopped')
    },
  }
}
