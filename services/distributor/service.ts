/**
 * Wiring of the distributor: the contracts file, chain clients, the artifact store, one
 * pool distributor per pool, a loop that runs their passes every `pollMs`, and the probe server.
 * A pass that fails is logged, counted and tried again on the next tick (each pass derives its
 * step from the chain again); an underfunded treasury is an alert in the log, the metrics and
 * /healthz, never a crash loop; so is a final epoch whose device tree is not in the store. A
 * broken history (DISTRIBUTOR_HISTORY_MISMATCH) or a device tree that does not back its epoch's
 * commitment (DISTRIBUTOR_COMMITMENT_MISMATCH) stops that pool's publishing until an operator
 * acts, and /healthz says so.
 */
import { type Account, createWalletClient, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { DEV_ACCOUNT_ROLES, devAccount } from '../../contracts/deploy/dev-accounts.ts'
import { ConfigError, GridrootError } from '../../core/errors/base.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { startDeploymentWatch } from '../../runtime/chain/deployment-watch.ts'
import { errorFields, errorSummary } from '../../runtime/chain/log-error.ts'
import { chainFailure } from '../../runtime/chain/node-answer.ts'
import { createPoolChain } from '../../runtime/chain/pool-chain.ts'
import { ANVIL_CHAIN_ID, createChainClients } from '../../runtime/clients/chain.ts'
import { loadContractsFile, poolContracts } from '../../runtime/contracts-file.ts'
import { startProbeServer } from '../../runtime/http-probe-server.ts'
import type { Logger } from '../../runtime/log.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { checkRegistryOnChain, startRegistryWatch } from '../../runtime/registry-onchain.ts'
import { loadTariffBook } from '../../runtime/tariffs-file.ts'
import { withBoundedReceipts } from './adapters/bounded-receipts.ts'
import type { DistributorConfig } from './config.ts'
import { artifactMissingProblem, type MissingArtifact, nextMissing } from './domain/artifact-wait.ts'
import { createDistributorMetrics } from './metrics.ts'
import { createPoolDistributor, DistributionHistoryError, type PassResult } from './pool-distributor.ts'

interface PoolHealth {
  lastPassOkAtMs: number | undefined
  /**
   * While a pass runs: since when it has waited on the chain (a frozen node holds it in viem's
   * timeouts); moved on by each slice of work that is not a chain read.
   */
  passStartedAtMs: number | undefined
  /** The running pass's last sign of progress (an audit slice, a receipt wait begun or ended). */
  progressAtMs: number | undefined
  /** While the running pass waits for a receipt (bounded by GRIDROOT_DISTRIBUTOR_RECEIPT_TIMEOUT). */
  receiptWait: boolean
  /** What the running pass works on: an archive audit's progress, a receipt it waits for. */
  activity: string | undefined
  /** The last pass failed because the chain node did not answer. */
  chainUnreachable: boolean
  lastError: string | undefined
  alert: string | undefined
  halted: string | undefined
  waiting: string | undefined
  /** The committed artifact the next epoch waits for, and since when. */
  missing: MissingArtifact | undefined
  /** ARTIFACT_MISSING of `missing` was logged. */
  missingReported: boolean
}

export function publisherAccount(config: DistributorConfig): Account {
  if (config.publisherKey) return privateKeyToAccount(config.publisherKey)
  if (config.endpoints.chain.chainId === ANVIL_CHAIN_ID) return devAccount(DEV_ACCOUNT_ROLES.publisher)
  throw new ConfigError('GRIDROOT_DISTRIBUTOR_KEY is required off the local anvil', {
    metaMessages: ['Set it to the key of an account holding the PUBLISHER_ROLE of every pool distributor.'],
  })
}

export async function startDistributorService(config: DistributorConfig, logger: Logger) {
  const file = loadContractsFile(config.contractsFile)
  if (file.chainId !== config.endpoints.chain.chainId)
    throw new ConfigError(
      `the contracts file ${config.contractsFile} is for chain ${file.chainId}, but GRIDROOT_CHAIN_ID is ${config.endpoints.chain.chainId}`,
    )
  const poolIds = config.pools.length > 0 ? config.pools : Object.keys(file.pools).sort()
  const { chain, transport, publicClient } = createChainClients(config.endpoints.chain, { timeoutMs: 30_000 })
  const account = publisherAccount(config)
  const walletClient = createWalletClient({ chain, transport, account })
  const store = createFileArtifactStore(config.artifacts)
  const metrics = createDistributorMetrics()
  const registry = await loadRegistryFile(config.registryFile)
  const rules = {
    settings: config.audit.settings,
    tariffs: await loadTariffBook(config.audit.tariffsFile, config.audit.settings.grid),
  }
  await checkRegistryOnChain({
    publicClient,
    deviceRegistry: file.contracts.deviceRegistry as Hex,
    registry,
    registryFile: config.registryFile,
    poolIds,
  })
  const registryWatch = startRegistryWatch({
    contractsFile: config.contractsFile,
    chain: config.endpoints.chain,
    registry: () => registry,
    registryFile: config.registryFile,
    logger,
    poolIds,
  })
  let stopping = false
  let lastFailpointHit = false

  const pools = poolIds.map((poolId) => {
    const pool = poolContracts(file, poolId)
    const chainPort = createPoolChain({
      publicClient: withBoundedReceipts(publicClient, {
        timeoutMs: config.receiptTimeoutMs,
        onWait: (hash) => {
          health.receiptWait = hash !== undefined
          progress(
            hash === undefined
              ? undefined
              : `waiting up to ${Math.round(config.receiptTimeoutMs / 1000)} s for the receipt of ${hash}`,
          )
        },
      }),
      walletClient,
      pool,
      oracle: file.contracts.revenueOracle as Hex,
      identityRegistry: file.contracts.identityRegistry as Hex,
      identityFromBlock: BigInt(file.deployedAtBlock),
      logRangeBlocks: config.logRangeBlocks,
    })
    const distributor = createPoolDistributor({
      chain: chainPort,
      store,
      grid: config.grid,
      firstEpoch: pool.firstEpoch,
      excludedAccounts: config.excludedAccounts,
      devices: new Map(
        [...registry.devices()].filter((d) => d.poolId === poolId).map((d) => [d.deviceId, d]),
      ),
      rules,
      onAudit: (auditMs) => metrics.archiveAuditSeconds.set({ pool: poolId }, auditMs / 1000),
      onActivity: (activity) => progress(activity),
      logger,
      ...(config.failpoint
        ? {
            afterStep: async (step) => {
              if (step !== config.failpoint || lastFailpointHit) return
              lastFailpointHit = true
              logger.warn({ pool: poolId, failpoint: step }, 'failpoint reached; waiting to be killed')
              await new Promise(() => {})
            },
          }
        : {}),
    })
    const health: PoolHealth = {
      lastPassOkAtMs: undefined,
      passStartedAtMs: undefined,
      progressAtMs: undefined,
      receiptWait: false,
      activity: undefined,
      chainUnreachable: false,
      lastError: undefined,
      alert: undefined,
      halted: undefined,
      waiting: undefined,
      missing: undefined,
      missingReported: false,
    }
    /** A sign of life of the running pass: its wait on the chain is measured from here. */
    function progress(activity: string | undefined) {
      health.activity = activity
      if (health.passStartedAtMs === undefined) return
      health.passStartedAtMs = Date.now()
      health.progressAtMs = health.passStartedAtMs
    }
    return { poolId, distributor, health }
  })

  // A chain reset under the running distributor (attack10b F2): its cumulative trees are of a
  // chain that is gone. It then publishes nothing more, and /healthz says so until a restart.
  const deployment = startDeploymentWatch({
    chain: config.endpoints.chain,
    contracts: {
      RevenueOracle: file.contracts.revenueOracle as Hex,
      IdentityRegistry: file.contracts.identityRegistry as Hex,
      ...Object.fromEntries(
        poolIds.flatMap((poolId) => {
          const pool = poolContracts(file, poolId)
          return [
            [`RevenueDistributor ${poolId}`, pool.distributor as Hex],
            [`RevenueShareToken ${poolId}`, pool.token as Hex],
          ]
        }),
      ),
    },
    contractsFile: config.contractsFile,
    logger,
  })
  await deployment.check()

  const record = (poolId: string, health: PoolHealth, result: PassResult) => {
    health.lastPassOkAtMs = Date.now()
    health.lastError = undefined
    health.chainUnreachable = false
    if (result.kind !== 'artifact-missing') {
      if (health.missing !== undefined && health.missingReported)
        logger.info(
          { pool: poolId, epoch: health.missing.epoch, artifact: health.missing.artifact },
          'the missing artifact is in the store now; the pool goes on',
        )
      health.missing = undefined
      health.missingReported = false
      metrics.artifactMissingSeconds.set({ pool: poolId }, 0)
    }
    if (result.kind === 'underfunded') {
      if (health.alert !== result.problem)
        logger.error(
          { pool: poolId, epoch: result.epoch, neededUnits: String(result.neededUnits) },
          result.problem,
        )
      health.alert = result.problem
      metrics.underfunded.set({ pool: poolId }, 1)
      return
    }
    metrics.underfunded.set({ pool: poolId }, 0)
    const missingGauge = { 'device tree': metrics.treeMissing, 'readings archive': metrics.archiveMissing }
    if (result.kind === 'artifact-missing') {
      const missing = nextMissing(health.missing, result, Date.now())
      if (missing !== health.missing) health.missingReported = false
      health.missing = missing
      metrics.artifactMissingSeconds.set({ pool: poolId }, (Date.now() - missing.sinceMs) / 1000)
      const overdue = artifactMissingProblem(poolId, missing, Date.now(), config.artifactWaitMs)
      if (overdue !== undefined && !health.missingReported) {
        health.missingReported = true
        const { message, ...fields } = overdue
        logger.error(fields, message)
      }
      if (health.alert !== result.problem)
        logger.error(
          { pool: poolId, epoch: result.epoch, artifact: result.artifact, hash: result.hash },
          result.problem,
        )
      health.alert = result.problem
      health.waiting = `epoch ${result.epoch}: ${result.artifact} ${result.hash} missing`
      for (const [artifact, gauge] of Object.entries(missingGauge))
        gauge.set({ pool: poolId }, artifact === result.artifact ? 1 : 0)
      return
    }
    health.alert = undefined
    for (const gauge of Object.values(missingGauge)) gauge.set({ pool: poolId }, 0)
    if (result.kind === 'wait') {
      health.waiting = `epoch ${result.step.epoch}: ${result.step.reason}`
      return
    }
    if (result.kind === 'receipt-timeout') {
      metrics.receiptTimeouts.inc({ pool: poolId })
      health.waiting = `epoch ${result.epoch}: no receipt for ${result.tx} within ${Math.round(config.receiptTimeoutMs / 1000)} s; ${result.landed ? 'the chain has it published' : 'sending it again'}`
      return
    }
    health.waiting = undefined
    metrics.publishedEpoch.set({ pool: poolId }, result.epoch)
    const e = result.plan.entitlement
    metrics.fundedUnits.inc({ pool: poolId }, Number(result.fundedUnits))
    metrics.withheldUnits.inc({ pool: poolId }, Number(e.withheldUnits))
  }

  const passEnded = (health: PoolHealth) => {
    health.passStartedAtMs = undefined
    health.progressAtMs = undefined
    health.receiptWait = false
    health.activity = undefined
  }

  const runPool = async (p: (typeof pools)[number]) => {
    while (!stopping && p.health.halted === undefined) {
      if (deployment.problem?.code === 'CHAIN_RESET') return
      p.health.passStartedAtMs = Date.now()
      try {
        const result = await p.distributor.pass()
        passEnded(p.health)
        record(p.poolId, p.health, result)
        // Publish epoch after epoch without waiting while a backlog is due; after a receipt that
        // did not come, the next pass decides from the chain at once.
        if (result.kind === 'published' || result.kind === 'receipt-timeout') continue
      } catch (error) {
        passEnded(p.health)
        const code = error instanceof GridrootError ? error.code : 'UNEXPECTED'
        metrics.passFailures.inc({ pool: p.poolId, code })
        p.health.lastError = errorSummary(error)
        p.health.chainUnreachable = chainFailure(error) === 'unreachable'
        // What it waited on before is not known any more (attack10b F12: "oracle-not-final"
        // stayed through a frozen node).
        p.health.waiting = undefined
        if (error instanceof DistributionHistoryError) {
          p.health.halted = error.message
          if (error.code === 'DISTRIBUTOR_COMMITMENT_MISMATCH')
            metrics.commitmentRefused.set({ pool: p.poolId }, 1)
          if (error.code === 'ARCHIVE_AUDIT_FAILED') metrics.archiveAuditFailed.set({ pool: p.poolId }, 1)
          logger.fatal(
            { pool: p.poolId, code, ...error.details, hints: error.metaMessages },
            error.shortMessage,
          )
          return
        }
        logger.warn(
          { pool: p.poolId, error: errorFields(error) },
          'distribution pass failed; trying again at the next poll',
        )
      }
      await new Promise((r) => setTimeout(r, config.pollMs))
    }
  }

  const loops = pools.map((p) => runPool(p))
  const probe = await startProbeServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health: () => {
      const now = Date.now()
      const stale = Math.max(30_000, config.pollMs * 10)
      const poolStates = Object.fromEntries(
        pools.map((p) => {
          // A receipt wait is a chain wait of its own, with its own bound.
          const bound = stale + (p.health.receiptWait ? config.receiptTimeoutMs : 0)
          const passRunningMs = p.health.passStartedAtMs === undefined ? 0 : now - p.health.passStartedAtMs
          const lastSign = Math.max(p.health.lastPassOkAtMs ?? 0, p.health.progressAtMs ?? 0)
          const artifactMissing = artifactMissingProblem(
            p.poolId,
            p.health.missing,
            now,
            config.artifactWaitMs,
          )
          const chainProblem =
            passRunningMs >= bound
              ? `a pass has been waiting on the chain for ${Math.round(passRunningMs / 1000)} s (GRIDROOT_RPC_URL does not answer)`
              : p.health.chainUnreachable
                ? 'the last pass failed: the chain node did not answer (GRIDROOT_RPC_URL; see lastError)'
                : undefined
          return [
            p.poolId,
            {
              // A pass that has not succeeded for a while means the chain or the store is gone.
              // A long audit or receipt wait of the running pass counts as progress.
              ok:
                p.health.halted === undefined &&
                artifactMissing === undefined &&
                p.health.lastPassOkAtMs !== undefined &&
                now - lastSign < bound &&
                passRunningMs < bound,
              ...(chainProblem === undefined ? {} : { chainProblem }),
              ...(p.health.activity === undefined ? {} : { activity: p.health.activity }),
              waiting: p.health.waiting,
              alert: p.health.alert,
              halted: p.health.halted,
              lastError: p.health.lastError,
            },
          ]
        }),
      )
      // The registry watch sees a reset chain too: each code is named once.
      const problems = [
        ...(deployment.problem === undefined ? [] : [deployment.problem]),
        ...pools.flatMap((p) => {
          const problem = artifactMissingProblem(p.poolId, p.health.missing, now, config.artifactWaitMs)
          return problem === undefined ? [] : [problem]
        }),
        ...(registryWatch?.problems() ?? []).filter((p) => p.code !== deployment.problem?.code),
      ]
      const starting = pools.some(
        (p) => p.health.lastPassOkAtMs === undefined && p.health.lastError === undefined,
      )
      return {
        ok: !starting && problems.length === 0 && Object.values(poolStates).every((s) => s.ok),
        ...(problems.length === 0 ? {} : { problems }),
        publisher: account.address,
        pools: poolStates,
      }
    },
  })
  logger.info({ pools: poolIds, publisher: account.address, metricsPort: probe.port }, 'distributor started')
  return {
    metricsPort: probe.port,
    async stop() {
      stopping = true
      deployment.stop()
      registryWatch?.stop()
      await Promise.race([Promise.allSettled(loops), new Promise((r) => setTimeout(r, 10_000))])
      await probe.close()
    },
  }
}
