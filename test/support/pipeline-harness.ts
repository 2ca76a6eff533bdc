/**
 * A namespaced slice of the real stack for one test: its own Kafka topics (prefix), its own
 * InfluxDB database, its own MQTT share group, and a simulated fleet whose ground truth is known.
 * Ingest and aggregator run as real child processes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import type { DeviceRecord } from '../../core/identity/registry.ts'
import { topicSet } from '../../core/kafka/topics.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook } from '../../core/revenue/tariffs.ts'
import { ensureTopics } from '../../runtime/clients/kafka.ts'
import { ENDPOINT_ENV, type Endpoints, endpointsToEnv } from '../../runtime/endpoints.ts'
import { createMqttPublisher, type MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import { createFleet, type FleetSpec } from '../../simulators/fleet/fleet.ts'
import type { EpochTruth } from '../../simulators/ledger.ts'
import { type Publish, Scenario, type ScenarioOptions } from '../../simulators/scenario.ts'
import { type EpochWatcher, watchEpochs } from './epoch-announcements.ts'
import { type Totals, testDatabase, zeroTotals } from './influx-queries.ts'
import { type ServiceProcess, startServiceProcess } from './service-process.ts'

export interface HarnessOptions {
  readonly endpoints: Endpoints
  /** Namespace of the run: topics, database, groups. */
  readonly name: string
  /** The fleet's seed: fixed in tests, so what is injected does not change between runs. */
  readonly seed: string
  readonly fleet: Omit<FleetSpec, 'seed'>
  readonly grid: TimeGrid
  readonly durationMs: number
  readonly scenario: Partial<Omit<ScenarioOptions, 'grid' | 'tariffs'>>
  /** Extra environment for the aggregator (grace, windows…). */
  readonly aggregatorEnv?: Record<string, string>
  /** Use this InfluxDB instead of a database on the shared one. */
  readonly influx?: Endpoints['influx']
  /** The aggregator's registry, when it differs from ingest's (default: the same devices). */
  readonly aggregatorRegistry?: (devices: readonly DeviceRecord[]) => DeviceRecord[]
}

export interface Harness {
  readonly scenario: Scenario
  readonly ticks: readonly (readonly Publish[])[]
  readonly influx: Endpoints['influx']
  /** The run's topic names (with its prefix). */
  readonly topics: ReturnType<typeof topicSet>
  /** This run's MQTT namespace (GRIDROOT_MQTT_TOPIC_PREFIX of its ingest): publish under it. */
  readonly mqttTopicPrefix: string
  /**
   * The environment its services get (endpoints, its InfluxDB, topic prefix, registry file,
   * epoch grid), for a test that starts further services on the same slice.
   */
  readonly env: Readonly<Record<string, string>>
  startIngest(): Promise<ServiceProcess>
  /**
   * Each start is a new instance (its own instance id); `env` overrides the harness's. With
   * `waitHealthy: false` it returns as soon as the process runs (e.g. to kill another instance
   * while this one is still joining the group).
   */
  startAggregator(
    env?: Record<string, string>,
    options?: { readonly waitHealthy?: boolean },
  ): Promise<ServiceProcess>
  /** Rewrites the aggregator's registry file (it picks the change up on its own). */
  setAggregatorRegistry(transform: (devices: readonly DeviceRecord[]) => DeviceRecord[]): void
  /** Starts watching epochs.v1 (creates the run's topics first). */
  watchEpochs(): Promise<EpochWatcher>
  publish(options?: {
    readonly pauseMs?: number
    readonly onTick?: (index: number) => Promise<void>
  }): Promise<void>
  /** Ground truth per device over all epochs. */
  truthByDevice(): Map<string, Totals>
  truthByDeviceEpoch(): Map<string, EpochTruth>
  close(): Promise<void>
}

export async function createHarness(options: HarnessOptions): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), `gridroot-${options.name}-`))
  const fleet = createFleet({ ...options.fleet, seed: options.seed })
  const registryFile = join(dir, 'registry.json')
  const registry = fleet.registry()
  writeFileSync(registryFile, JSON.stringify(registry))
  const aggregatorRegistryFile = join(dir, 'aggregator-registry.json')
  const writeAggregatorRegistry = (transform: (devices: readonly DeviceRecord[]) => DeviceRecord[]) =>
    writeFileSync(
      aggregatorRegistryFile,
      JSON.stringify({ ...registry, devices: transform(registry.devices) }),
    )
  writeAggregatorRegistry(options.aggregatorRegistry ?? ((d) => [...d]))
  const tariffs = parseTariffBook(DEMO_TARIFF_BOOK, options.grid)
  const scenario = new Scenario(fleet, { ...options.scenario, grid: options.grid, tariffs })
  const sampleMs = options.fleet.sampleMs
  const ticks: Publish[][] = []
  for (
    let t = options.fleet.startMs + sampleMs;
    t <= options.fleet.startMs + options.durationMs;
    t += sampleMs
  ) {
    ticks.push(scenario.tick(t))
  }
  ticks.push(scenario.flush())
  const mqttTopicPrefix = `${options.name}/`
  const influx =
    options.influx ??
    (await testDatabase(options.endpoints.influx, options.name.replace(/[^A-Za-z0-9_]/g, '_')))
  const env = {
    ...endpointsToEnv(options.endpoints),
    [ENDPOINT_ENV.influxUrl]: influx.url,
    [ENDPOINT_ENV.influxBucket]: influx.bucket,
    GRIDROOT_KAFKA_TOPIC_PREFIX: `${options.name}.`,
    GRIDROOT_MQTT_TOPIC_PREFIX: mqttTopicPrefix,
    GRIDROOT_REGISTRY_FILE: registryFile,
    GRIDROOT_EPOCH_GENESIS: new Date(options.grid.genesisMs).toISOString(),
    GRIDROOT_EPOCH_LENGTH: String(options.grid.epochLengthMs),
    GRIDROOT_INTERVAL: String(options.grid.intervalMs),
  }
  const processes: ServiceProcess[] = []
  const watchers: EpochWatcher[] = []
  const topics = topicSet(`${options.name}.`)
  let aggregators = 0
  let publisher: MqttPublisher | undefined

  const start = async (entry: string, extra: Record<string, string>, portVariable: string, wait = true) => {
    const service = await startServiceProcess(entry, { ...env, ...extra }, portVariable)
    processes.push(service)
    if (wait) await service.waitHealthy()
    return service
  }

  return {
    scenario,
    ticks,
    influx,
    topics,
    mqttTopicPrefix,
    env,
    setAggregatorRegistry: writeAggregatorRegistry,
    async watchEpochs() {
      await ensureTopics(options.endpoints.kafka, topics.all)
      const watcher = await watchEpochs(options.endpoints.kafka, influx, options.grid, topics.epochs.name)
      watchers.push(watcher)
      return watcher
    },
    startIngest: () =>
      start(
        'services/ingest/main.ts',
        {
          GRIDROOT_INGEST_INSTANCE: `${options.name}-ingest`,
          GRIDROOT_INGEST_SHARED_GROUP: `${options.name}-share`,
          GRIDROOT_INGEST_MQTT_CONNECTIONS: '8',
          GRIDROOT_INGEST_VERIFY_WORKERS: '1',
          GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '120',
        },
        'GRIDROOT_INGEST_METRICS_PORT',
      ),
    startAggregator: (extra = {}, { waitHealthy = true } = {}) =>
      start(
        'services/aggregator/main.ts',
        {
          GRIDROOT_REGISTRY_FILE: aggregatorRegistryFile,
          GRIDROOT_AGG_GROUP: `${options.name}-aggregator`,
          GRIDROOT_AGG_INSTANCE: `${options.name}-aggregator-${++aggregators}`,
          GRIDROOT_AGG_CLOSE_CHECK: '300',
          GRIDROOT_AGG_REGISTRY_RELOAD: '500',
          // Longer than publishing takes: a quiet partition is raised only after the data is in.
          GRIDROOT_AGG_IDLE_PARTITION: '15s',
          ...options.aggregatorEnv,
          ...extra,
        },
        'GRIDROOT_AGG_METRICS_PORT',
        waitHealthy,
      ),
    async publish({ pauseMs = 0, onTick } = {}) {
      publisher ??= await createMqttPublisher(options.endpoints.mqtt, {
        connections: 4,
        inflightPerConnection: 32,
        clientIdPrefix: `${options.name}-pub`,
        topicPrefix: mqttTopicPrefix,
      })
      for (const [i, tick] of ticks.entries()) {
        await publisher.publish(tick)
        await onTick?.(i)
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs))
      }
    },
    truthByDevice() {
      const out = new Map<string, Totals>()
      for (const e of scenario.ledger.snapshot().epochs) {
        const t = out.get(e.deviceId) ?? zeroTotals()
        t.energyWh += e.energyWh
        t.revenueUnits += e.revenueUnits ?? 0n
        t.swaps += e.swaps
        t.readings += e.readings
        t.quarantined += e.quarantined
        out.set(e.deviceId, t)
      }
      return out
    },
    truthByDeviceEpoch() {
      return new Map(scenario.ledger.snapshot().epochs.map((e) => [`${e.deviceId}/${e.epoch}`, e]))
    },
    async close() {
      for (const w of watchers) await w.stop()
      await publisher?.close()
      for (const p of processes) await p.kill('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Totals as plain strings, so a failed comparison prints a readable diff. */
export function printable(map: ReadonlyMap<string, Totals | EpochTruth>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, t] of [...map].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const empty =
      t.energyWh === 0 && !t.revenueUnits && t.swaps === 0 && t.readings === 0 && t.quarantined === 0
    if (empty) continue
    out[k] = `E=${t.energyWh} R=${t.revenueUnits ?? 0n} S=${t.swaps} n=${t.readings} q=${t.quarantined}`
  }
  return out
}
