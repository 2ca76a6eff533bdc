/** Wires the adapters to `build()` and listens; main.ts only hands it the configuration. */
import type { FastifyInstance } from 'fastify'
import type { Address, Hex } from 'viem'
import { ConfigError } from '../../core/errors/base.ts'
import { createFileArtifactStore } from '../../runtime/artifact-store.ts'
import { startDeploymentWatch } from '../../runtime/chain/deployment-watch.ts'
import { ANVIL_CHAIN_ID, createChainClients } from '../../runtime/clients/chain.ts'
import { ensureTopics } from '../../runtime/clients/kafka.ts'
import { loadContractsFile } from '../../runtime/contracts-file.ts'
import type { Logger } from '../../runtime/log.ts'
import { loadRegistryFile } from '../../runtime/registry-file.ts'
import { loadTariffBook } from '../../runtime/tariffs-file.ts'
import { createOracleChain } from '../oracle/adapters/chain.ts'
import { createAuditReader } from './adapters/audit-reader.ts'
import { createChainProbe } from './adapters/chain-probe.ts'
import { createDevWallet } from './adapters/dev-wallet.ts'
import { startDlqTail } from './adapters/dlq-tail.ts'
import { createHolderReader } from './adapters/holder-reader.ts'
import { createInfluxReader } from './adapters/influx-reader.ts'
import { createOracleReader } from './adapters/oracle-reader.ts'
import { build } from './app.ts'
import type { ApiConfig } from './config.ts'
import { createQueryGate } from './domain/query-gate.ts'
import type { DevWallet } from './ports.ts'

export interface ApiServer {
  readonly app: FastifyInstance
  /** The port it listens on (the configured one, or the one the OS chose for port 0). */
  readonly port: number
  stop(): Promise<void>
}

export async function startApiServer(config: ApiConfig, logger: Logger): Promise<ApiServer> {
  const registry = await loadRegistryFile(config.registryFile)
  // The DLQ reader needs the topic; creating it here is what ingest does too (idempotent).
  await ensureTopics(config.endpoints.kafka, [config.topics.dlq], { clientId: `${config.instanceId}-topics` })
  const influx = createInfluxReader(config.endpoints.influx, {
    aggregatorGroup: config.aggregatorGroup,
    revenueSource: config.revenueSource,
    // Waiting for a slot counts in the query timeout (attack12d F6).
    gate: createQueryGate({ ...config.influxQueries, waitLimitMs: config.queryTimeoutMs }),
    queryTimeoutMs: config.queryTimeoutMs,
    silenceMs: config.influxSilenceMs,
  })
  const dlq = await startDlqTail({
    kafka: config.endpoints.kafka,
    topic: config.topics.dlq.name,
    instanceId: config.instanceId,
    retainRecords: config.dlqRetainRecords,
    watch: config.dlqWatch,
    logger,
  })
  const contracts = config.contractsFile === undefined ? undefined : loadContractsFile(config.contractsFile)
  const publicClient =
    contracts === undefined ? undefined : createChainClients(config.endpoints.chain).publicClient
  const deployment =
    contracts === undefined || config.contractsFile === undefined
      ? undefined
      : startDeploymentWatch({
          chain: config.endpoints.chain,
          contracts: {
            RevenueOracle: contracts.contracts.revenueOracle as Address,
            ...Object.fromEntries(
              Object.values(contracts.pools).flatMap((p) => [
                [`RevenueDistributor ${p.poolId}`, p.distributor as Address],
                [`RevenueShareToken ${p.poolId}`, p.token as Address],
              ]),
            ),
          },
          contractsFile: config.contractsFile,
          logger,
        })
  await deployment?.check()
  const store = createFileArtifactStore(config.artifacts)
  const holders =
    contracts === undefined || publicClient === undefined
      ? undefined
      : createHolderReader({ publicClient, contracts, store })
  const auditor =
    contracts === undefined
      ? undefined
      : createAuditReader({
          chain: createOracleChain({
            endpoint: config.endpoints.chain,
            oracle: contracts.contracts.revenueOracle as Address,
            fromBlock: BigInt(contracts.deployedAtBlock),
          }),
          store,
          registry,
          cacheBytes: config.auditCacheBytes,
          rules: {
            settings: config.verify.settings,
            tariffs: await loadTariffBook(config.verify.tariffsFile, config.verify.settings.grid),
          },
          // The oracle commits every registry pool; the contracts file lists those with a token.
          pools: [
            ...new Set([...[...registry.devices()].map((d) => d.poolId), ...Object.keys(contracts.pools)]),
          ],
        })
  const chain =
    contracts === undefined || publicClient === undefined
      ? undefined
      : (() => {
          return createOracleReader({
            publicClient,
            revenueOracle: contracts.contracts.revenueOracle,
            poolIds: new Map<string, Hex>(
              Object.values(contracts.pools).map((p) => [p.poolId, p.poolIdBytes32]),
            ),
          })
        })()
  const devWallet =
    config.devWallet === 'anvil' && contracts !== undefined && publicClient !== undefined
      ? await anvilDevWallet(config, contracts.chainId, await publicClient.getChainId(), logger)
      : undefined
  if (config.apiKeys.length === 0) {
    logger.warn('no operator API keys configured (GRIDROOT_API_KEYS): operator routes refuse every request')
  }
  const app = await build({
    grid: config.grid,
    limits: config.limits,
    online: config.online,
    apiKeys: config.apiKeys,
    rateLimit: config.rateLimit,
    trustProxy: config.trustProxy,
    requestTimeoutMs: config.requestTimeoutMs,
    logger,
    ports: {
      registry,
      revenue: influx.revenue,
      fleet: influx.fleet,
      quarantine: influx.quarantine,
      epochs: influx.epochs,
      dlq,
      ...(chain === undefined ? {} : { chain }),
      ...(holders === undefined ? {} : { holders }),
      ...(auditor === undefined ? {} : { auditor }),
      ...(devWallet === undefined ? {} : { devWallet }),
      probes: [influx.probe, dlq.probe],
      // The chain is checked only where routes read it (a contracts file); the check drives the
      // breaker of those routes.
      ...(deployment === undefined
        ? {}
        : { chainProbe: createChainProbe(config.endpoints.chain, { deployment }) }),
      queryLoad: influx.load,
    },
  })
  await app.listen({ host: config.host, port: config.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  logger.info(
    {
      url: `http://${config.host}:${port}/`,
      docs: `http://${config.host}:${port}/docs`,
      devices: registry.size,
    },
    'api listening',
  )
  return {
    app,
    port,
    async stop() {
      deployment?.stop()
      await app.close()
      await dlq.stop()
    },
  }
}

/**
 * The dev wallet signs with keys everyone knows: config.ts admits it on a loopback host and
 * GRIDROOT_CHAIN_ID 31337 only; here the node itself and the contracts file must say 31337 too.
 */
async function anvilDevWallet(
  config: ApiConfig,
  contractsChainId: number,
  nodeChainId: number,
  logger: Logger,
): Promise<DevWallet> {
  if (contractsChainId !== ANVIL_CHAIN_ID || nodeChainId !== ANVIL_CHAIN_ID) {
    throw new ConfigError('the dev wallet runs on a local anvil only', {
      metaMessages: [
        `  GRIDROOT_API_DEV_WALLET=anvil, but the node answers chain id ${nodeChainId} and the contracts file says ${contractsChainId} (anvil: ${ANVIL_CHAIN_ID}).`,
        'Set GRIDROOT_API_DEV_WALLET=off for any other chain.',
      ],
    })
  }
  logger.warn(
    { devWallet: 'anvil', host: config.host },
    "dev wallet on: the dashboard signs with anvil's well-known keys (local stack only)",
  )
  return createDevWallet(config.endpoints.chain)
}
