/**
 * Wires an oracle process: a signer (telemetry replay + epochs.v1 → signatures) or the
 * submitter (signatures → RevenueOracle). Both rebuild their state from Kafka on start and
 * read the chain for what is done already.
 */
import type { Address } from 'viem'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { startDeploymentWatch } from '../../runtime/chain/deployment-watch.ts'
import { errorFields } from '../../runtime/chain/log-error.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import { startProbeServer } from '../../runtime/http-probe-server.ts'
import type { Logger } from '../../runtime/log.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { checkAndWatchRegistry } from '../../runtime/registry-onchain.ts'
import { loadTariffBook } from '../../runtime/tariffs-file.ts'
import { createOracleChain, createProposalSigner, signatureRecoverer } from './adapters/chain.ts'
import { createInfluxEpochTotals } from './adapters/influx-epoch-totals.ts'
import { startTopicReader, type TopicReader } from './adapters/kafka-reader.ts'
import { createKafkaSignatureChannel, signaturesTopic } from './adapters/kafka-signatures.ts'
import type { OracleConfig } from './config.ts'
import { decodeAnnouncement } from './domain/announcement.ts'
import { chainHealth } from './domain/chain-health.ts'
import type { Hex } from './domain/proposal.ts'
import { TelemetryReplay } from './domain/replay.ts'
import { decodeSignerMessage } from './domain/signer-message.ts'
import { createOracleMetrics, type OracleMetrics } from './metrics.ts'
import { createSigner } from './signer.ts'
import { createSubmitter } from './submitter.ts'

/**
 * A pass over the pools running this long means the chain does not answer (domain/chain-health.ts);
 * the signers and the distributor say so after about as long.
 */
const CHAIN_PASS_STALL_MS = 30_000

export interface OracleService {
  readonly metrics: OracleMetrics
  readonly metricsPort: number
  stop(): Promise<void>
}

export async function startOracleService(config: OracleConfig, logger: Logger): Promise<OracleService> {
  const registry = await loadRegistryFile(config.registryFile)
  const contracts = loadContractsFile(config.contractsFile)
  const metrics = createOracleMetrics()
  const oracle = contracts.contracts.revenueOracle as Address
  const chainId = config.endpoints.chain.chainId
  const sigTopic = signaturesTopic(config.topicPrefix)
  await ensureTopics(config.endpoints.kafka, [...config.topics.all, sigTopic])
  const kafka = createKafka(config.endpoints.kafka, config.instanceId)
  const stopping = new AbortController()
  const readers: TopicReader[] = []
  const timers: NodeJS.Timeout[] = []
  const watches: { stop(): void }[] = []
  let health: () => { ok: boolean; [key: string]: unknown }
  let closeChannel = async () => {}
  // A chain reset under a running oracle (attack10b F2): what it signed and knows is of a chain
  // that is gone. It then signs and sends nothing more, and /healthz says so until a restart.
  const deployment = startDeploymentWatch({
    chain: config.endpoints.chain,
    contracts: { RevenueOracle: oracle },
    contractsFile: config.contractsFile,
    logger,
  })
  await deployment.check()
  const chainReset = () => deployment.problem?.code === 'CHAIN_RESET'
  const deploymentProblems = () => (deployment.problem === undefined ? [] : [deployment.problem])

  if (config.role === 'signer') {
    // Leaves name devices, keys and classes of the registry: one that is not the chain's would
    // give roots no honest signer signs (refused at start, held while running).
    const registryWatch = await checkAndWatchRegistry({
      contractsFile: config.contractsFile,
      chain: config.endpoints.chain,
      registry: () => registry,
      registryFile: config.registryFile,
      logger,
    })
    const registryMismatch = () => registryWatch?.problems().find((p) => p.code === 'REGISTRY_ROOT_MISMATCH')
    if (registryWatch) watches.push(registryWatch)
    const chain = createOracleChain({
      endpoint: config.endpoints.chain,
      oracle,
      fromBlock: BigInt(contracts.deployedAtBlock),
    })
    const proposalSigner = createProposalSigner(config.signerKey as Hex, chainId, oracle)
    const tariffs = await loadTariffBook(config.tariffsFile, config.grid)
    const replay = new TelemetryReplay(config.replay, tariffs, registry)
    const channel = await createKafkaSignatureChannel(kafka, sigTopic.name)
    closeChannel = () => channel.close()
    const admin = kafka.admin()
    await admin.connect()
    const signer = createSigner({
      instanceId: config.instanceId,
      source: config.source,
      graceMs: config.replay.graceMs,
      grid: config.grid,
      registry,
      replay,
      partitions: async () => {
        const meta = await admin.fetchTopicMetadata({ topics: [config.topics.telemetry.name] })
        return meta.topics[0]?.partitions.length ?? 0
      },
      // A replay signer reads them only to place an epoch digest mismatch in a pool (attack10a F8).
      totals: createInfluxEpochTotals(config.endpoints.influx, config.grid),
      store: createFileArtifactStore(config.artifacts),
      chain,
      signer: proposalSigner,
      channel,
      metrics,
      logger,
      sourceTimeoutMs: config.sourceTimeoutMs,
      resignIntervalMs: config.resignIntervalMs,
      finalRetention: { depthBlocks: BigInt(config.finalDepthBlocks) },
      registryProblem: () => registryMismatch()?.message,
      signal: stopping.signal,
    })
    readers.push(
      await startTopicReader(kafka, {
        topic: config.topics.telemetry.name,
        groupId: `${config.instanceId}.telemetry-replay`,
        logger,
        limits: config.consumer,
        onRecords: (records) => signer.onTelemetry(records),
      }),
      await startTopicReader(kafka, {
        topic: config.topics.epochs.name,
        groupId: `${config.instanceId}.epochs`,
        logger,
        limits: config.consumer,
        onRecords: (records) => {
          // Nothing is lost: a restarted signer reads epochs.v1 from the beginning again.
          if (chainReset()) return
          for (const r of records) {
            metrics.announcements.inc()
            try {
              signer.onAnnouncement(decodeAnnouncement(r.value))
            } catch (error) {
              logger.error({ error: errorFields(error), offset: r.offset }, 'epochs.v1 record skipped')
            }
          }
        },
      }),
    )
    let chainOk = true
    let isSigner: boolean | undefined
    timers.push(
      setInterval(() => {
        if (chainReset()) return
        void (async () => {
          try {
            await signer.resign()
            const set = await chain.signerSet()
            isSigner = set.signers.includes(proposalSigner.address)
            chainOk = true
          } catch (error) {
            if (chainOk) logger.warn({ error: errorFields(error) }, 'chain unavailable')
            chainOk = false
          }
        })()
      }, config.pollMs),
    )
    const stopAdmin = () => admin.disconnect()
    readers.push({ positions: () => new Map(), ends: async () => new Map(), stop: stopAdmin })
    health = () => {
      const mismatch = registryMismatch()
      const problems = [...deploymentProblems(), ...(mismatch === undefined ? [] : [mismatch])]
      return {
        ok: chainOk && isSigner !== false && signer.state.lastError === undefined && problems.length === 0,
        role: 'signer',
        ...(problems.length === 0 ? {} : { problems }),
        source: config.source,
        address: proposalSigner.address,
        isSigner,
        chainOk,
        lastSignedEpoch: signer.state.lastSignedEpoch,
        queuedAnnouncements: signer.state.queued,
        waitingForSource: signer.state.waitingForSource,
        ...(signer.state.heldByRegistry === undefined ? {} : { heldByRegistry: signer.state.heldByRegistry }),
        lastError: signer.state.lastError,
      }
    }
    logger.info({ address: proposalSigner.address, source: config.source, oracle }, 'oracle signer started')
  } else {
    const chain = createOracleChain({
      endpoint: config.endpoints.chain,
      oracle,
      fromBlock: BigInt(contracts.deployedAtBlock),
      senderKey: config.submitterKey as Hex,
    })
    const pools = [...new Set([...registry.devices()].map((d) => d.poolId))].sort()
    // Final epochs are judged once the signatures published before this start are read.
    let caughtUp = false
    let startEnds: ReadonlyMap<number, bigint> | undefined
    const submitter = createSubmitter({
      pools,
      chain,
      recoverSigner: signatureRecoverer(chainId, oracle),
      metrics,
      logger,
      bookLimits: { epochsAhead: config.epochsAhead, finalDepthBlocks: BigInt(config.finalDepthBlocks) },
      signaturesStallMs: config.signaturesStallMs,
      acknowledgedRoots: config.acknowledgedRoots,
      caughtUp: () => {
        if (caughtUp || !startEnds) return caughtUp
        const at = signatureReader.positions()
        caughtUp = [...startEnds].every(([partition, end]) => (at.get(partition) ?? 0n) >= end)
        return caughtUp
      },
    })
    const signatureReader = await startTopicReader(kafka, {
      topic: sigTopic.name,
      groupId: `${config.instanceId}.signatures`,
      logger,
      limits: config.consumer,
      onRecords: async (records) => {
        for (const r of records) {
          try {
            await submitter.onMessage(decodeSignerMessage(r.value))
          } catch (error) {
            metrics.badSignatures.inc()
            logger.error(
              { error: errorFields(error), offset: r.offset },
              'oracle.signatures.v1 record skipped',
            )
          }
        }
      },
    })
    readers.push(signatureReader)
    startEnds = await signatureReader.ends()
    let ticking = false
    timers.push(
      setInterval(() => {
        if (ticking || stopping.signal.aborted || chainReset()) return
        ticking = true
        void submitter.tick().finally(() => {
          ticking = false
        })
      }, config.pollMs),
    )
    health = () => {
      const chain = chainHealth({
        lastPassOk: submitter.state.chainHealthy,
        passStartedAtMs: submitter.state.passStartedAtMs,
        nowMs: Date.now(),
        stallMs: Math.max(CHAIN_PASS_STALL_MS, 3 * config.pollMs),
      })
      const problems = [
        ...deploymentProblems(),
        ...submitter.state.unsignedFinal.values(),
        ...submitter.state.signaturesMissing.values(),
      ]
      return {
        // A pool stalled on signatures its signers moved past is not ok: payouts stop. Nor is a
        // pending root no current signer signed: a guardian must reject it.
        ok: chain.healthy && problems.length === 0 && submitter.state.unsignedPending.size === 0,
        role: 'submitter',
        chainHealthy: chain.healthy,
        ...(chain.detail === undefined ? {} : { chainProblem: chain.detail }),
        ...(problems.length > 0 ? { problems } : {}),
        ...(submitter.state.unsignedPending.size > 0
          ? { unsignedPendingRoots: [...submitter.state.unsignedPending.values()] }
          : {}),
        ...(submitter.state.lastReorg === undefined
          ? {}
          : {
              lastReorg: {
                message: submitter.state.lastReorg.message,
                at: new Date(submitter.state.lastReorg.atMs).toISOString(),
              },
            }),
        lastError: submitter.state.lastError,
        ...(submitter.state.lastErrorAtMs === undefined
          ? {}
          : { lastErrorAt: new Date(submitter.state.lastErrorAtMs).toISOString() }),
        pools: Object.fromEntries(
          [...submitter.state.lastStep].map(([pool, step]) => [
            pool,
            { step: step.kind, epoch: step.epoch, ...(step.kind === 'wait' ? { reason: step.reason } : {}) },
          ]),
        ),
      }
    }
    logger.info({ pools, oracle }, 'oracle submitter started')
  }

  const probe = await startProbeServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health: () => {
      // A Kafka reader that crashed, left its group or stopped fetching (issue 8): nothing new is read.
      const stalled = readers.flatMap((r) => {
        const v = r.consumer?.()
        return v === undefined || v.state === 'healthy' ? [] : [v]
      })
      const h = health()
      return stalled.length === 0 ? h : { ...h, ok: false, consumers: stalled }
    },
  })
  return {
    metrics,
    metricsPort: probe.port,
    async stop() {
      stopping.abort()
      deployment.stop()
      for (const t of timers) clearInterval(t)
      for (const w of watches) w.stop()
      for (const r of readers) await r.stop()
      await closeChannel()
      await probe.close()
      logger.info('oracle stopped')
    },
  }
}
