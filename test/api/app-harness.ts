/** An API app on the real stack, reading a fixture's database and DLQ topic (tests, benchmark). */
import type { FastifyInstance } from 'fastify'
import { topicSet } from '../../core/kafka/topics.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { createLogger } from '../../runtime/log.ts'
import { type DlqTail, startDlqTail } from '../../services/api/adapters/dlq-tail.ts'
import { createInfluxReader, type RevenueSource } from '../../services/api/adapters/influx-reader.ts'
import { build } from '../../services/api/app.ts'
import { type ApiLimits, DEFAULT_LIMITS } from '../../services/api/config.ts'
import type { ApiKey } from '../../services/api/domain/api-keys.ts'
import type { QueryGate } from '../../services/api/domain/query-gate.ts'
import type {
  AuditReader,
  DeviceDirectory,
  DevWallet,
  EpochChainReader,
  HolderReader,
} from '../../services/api/ports.ts'
import { FIXTURE_GRID, type Fixture } from './fixture.ts'

export const OPS_KEY: ApiKey = { clientId: 'ops', key: 'ops-key-0123456789abcdef0123' }
export const CI_KEY: ApiKey = { clientId: 'ci', key: 'ci-key-0123456789abcdef012345' }

export interface FixtureApp {
  readonly app: FastifyInstance
  readonly dlq: DlqTail
  close(): Promise<void>
}

export async function fixtureApp(
  endpoints: Endpoints,
  fixture: Fixture,
  options: {
    readonly rateLimitMax?: number
    readonly limits?: Partial<ApiLimits>
    readonly dlq?: DlqTail
    readonly chain?: EpochChainReader
    readonly holders?: HolderReader
    readonly auditor?: AuditReader
    /** Instead of the fixture's registry (the auditor routes list and check its devices). */
    readonly registry?: DeviceDirectory
    readonly devWallet?: DevWallet
    readonly revenueSource?: RevenueSource
    readonly gate?: QueryGate
    /** Instead of the fixture's InfluxDB URL (a proxy before it). */
    readonly influxUrl?: string
  } = {},
): Promise<FixtureApp> {
  const logger = createLogger('api-test', 'warn')
  const influx = createInfluxReader(
    options.influxUrl === undefined ? fixture.influx : { ...fixture.influx, url: options.influxUrl },
    {
      aggregatorGroup: fixture.aggregatorGroup,
      revenueSource: options.revenueSource ?? 'rollup',
      ...(options.gate === undefined ? {} : { gate: options.gate }),
    },
  )
  const dlq =
    options.dlq ??
    (await startDlqTail({
      kafka: endpoints.kafka,
      topic: topicSet(fixture.topicPrefix).dlq.name,
      instanceId: `${fixture.topicPrefix}api`,
      retainRecords: 1_000,
      logger,
    }))
  const app = await build({
    grid: FIXTURE_GRID,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    online: { windowMs: 900_000, clock: 'fleet' },
    apiKeys: [OPS_KEY, CI_KEY],
    rateLimit: { max: options.rateLimitMax ?? 10_000, windowMs: 60_000 },
    logger: false,
    ports: {
      registry: options.registry ?? fixture.registry,
      revenue: influx.revenue,
      fleet: influx.fleet,
      quarantine: influx.quarantine,
      epochs: influx.epochs,
      dlq,
      ...(options.chain === undefined ? {} : { chain: options.chain }),
      ...(options.holders === undefined ? {} : { holders: options.holders }),
      ...(options.auditor === undefined ? {} : { auditor: options.auditor }),
      ...(options.devWallet === undefined ? {} : { devWallet: options.devWallet }),
      probes: [influx.probe, dlq.probe],
      queryLoad: influx.load,
    },
  })
  await app.ready()
  return {
    app,
    dlq,
    async close() {
      await app.close()
      if (options.dlq === undefined) await dlq.stop()
    },
  }
}
