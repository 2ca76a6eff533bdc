/**
 * `npm start`: the whole system on this machine with one command. Brings up the local stack
 * (or reuses a healthy one), deploys fresh contracts and the configured pools, then runs ingest,
 * the aggregator, the oracle, the distributor, the API and a simulated fleet against it, and
 * prints a status line while they run. Ctrl-C stops what this command started.
 *
 * The services are supervised (stack/supervisor.ts): one that exits with a non-zero code or a
 * signal (75 from a stalled Kafka consumer, a crash) is started again with backoff.
 *
 * Their ports are this run's (stack/service-ports.ts, stack/service-runner.ts): reserved up
 * front against other `npm start`s on this machine, moved when a service still loses one
 * (EADDRINUSE), and a service is up only when its own process listens on its port, so the
 * banner, the dashboard link and the status line never point at another run's services.
 *
 * Each run is a fresh demo: the fleet restarts its seq counters at genesis, so this command
 * uses Kafka topics and an MQTT share group of its own run and empties the InfluxDB database.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import type { Address } from 'viem'
import { revenueOracleAbi } from '../contracts/abi/index.ts'
import { DEV_ACCOUNT_ROLES, devAccount } from '../contracts/deploy/dev-accounts.ts'
import { deployAndApplyPools, startEpochClocks } from '../contracts/deploy/local-setup.ts'
import { poolIdToBytes32 } from '../core/merkle/pool-id.ts'
import { parseDurationMs } from '../core/units/duration.ts'
import { formatUnits } from '../core/units/money.ts'
import { createChainClients } from '../runtime/clients/chain.ts'
import { createInflux } from '../runtime/clients/influx.ts'
import { loadContractsFile } from '../runtime/contracts-file.ts'
import { endpointsToEnv } from '../runtime/endpoints.ts'
import { nodeTsArgs } from '../runtime/node-ts.ts'
import { createFleet } from '../simulators/fleet/fleet.ts'
import { dashboardUrl, formatBanner } from './banner.ts'
import { demoChallengeWindowMs, GUARDIAN_MIN_CHALLENGE_WINDOW_MS, oracleKeepsUp } from './demo-timing.ts'
import { DEFAULT_RUN_DIR, printProgress, startStack } from './index.ts'
import { formatOracleProgress, type OraclePools, readOracleProgress } from './oracle-progress.ts'
import { REPO_ROOT } from './paths.ts'
import { describeHolder } from './port-owner.ts'
import { createPortReservations } from './port-reservations.ts'
import { createDatabase } from './servers/influxdb.ts'
import { createServicePorts, SERVICE_PORTS, type ServiceName } from './service-ports.ts'
import { createServiceRunner } from './service-runner.ts'
import { createSupervisor } from './supervisor.ts'

const HELP = `Usage: npm start [-- options]

Runs gridroot end to end on this machine: the local stack (Mosquitto, Kafka, InfluxDB, anvil),
fresh contracts with the pools of config/pools.json, the ingest and aggregator services, three
oracle signers, the submitter and the guardian, the distributor, the API with its dashboard, and a simulated
fleet publishing signed telemetry. A status line every 10 s shows each stage's progress.

Options:
  --chargers N    charging piles (default 60)
  --pv N          PV plants (default 30)
  --swap N        swap cabinets (default 30)
  --speed X       simulated seconds per wall second (default 600: a day in 2.4 minutes)
  --epoch D       epoch length in device time (default 6h: one every 36 s at 600x, longer
                  than the 20 s challenge window the guardian needs; see stack/demo-timing.ts)
  --faults k=p,.. fault injection passed to the simulator (npm run simulate -- --help)
  --run-dir DIR   run folder of the stack (default .run/default)
  -h, --help      this text

Logs: <run-dir>/logs/<service>.log (ingest, aggregator, api, simulator, oracle-*, distributor);
metrics and health URLs: printed at start. The fleet starts once ingest and the aggregator are healthy.
Service ports: 9464 ingest, 9465 aggregator, 9466-9468 signers, 9469 submitter, 9470 distributor,
9471 guardian, 8080 API, each when free and not reserved by another npm start (else a free one;
the banner prints the ports used). A service that loses its port (EADDRINUSE) moves to another,
3 times at most, then npm start stops naming the port's holder.
A service that exits with a non-zero code or a signal is restarted (1 s doubling to 30 s; the
simulator is not, it would start again at genesis); each restart is printed with the exit code.`

const GENESIS = '2026-06-01T00:00:00+08:00'

/** How long a service may take to listen on its port (ingest and the aggregator: to be healthy). */
const UP_WAIT_MS = 300_000

async function dropOldDemoDatabases(url: string): Promise<void> {
  const query = async (q: string) =>
    (await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q }) })).json() as Promise<{
      results?: { series?: { values?: string[][] }[] }[]
    }>
  const shown = await query('SHOW DATABASES')
  const names = shown.results?.[0]?.series?.[0]?.values?.map((v) => v[0] ?? '') ?? []
  for (const name of names.filter((n) => n.startsWith('demo_'))) await query(`DROP DATABASE "${name}"`)
}

/** Sum of a Prometheus metric's samples; undefined while the service does not answer yet. */
async function metric(port: number, name: string): Promise<number | undefined> {
  try {
    const text = await (
      await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) })
    ).text()
    let sum = 0
    for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').at(-1))
    return sum
  } catch {
    return undefined
  }
}

/** A metric for the status line: "…" while its service is still starting. */
const shown = (value: number | undefined): string => (value === undefined ? '…' : String(value))

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      chargers: { type: 'string', default: '60' },
      pv: { type: 'string', default: '30' },
      swap: { type: 'string', default: '30' },
      speed: { type: 'string', default: '600' },
      epoch: { type: 'string', default: '6h' },
      faults: { type: 'string' },
      'run-dir': { type: 'string', default: DEFAULT_RUN_DIR },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(HELP)
    return
  }
  const epochMs = parseDurationMs(values.epoch)
  const speed = Number(values.speed)
  if (!Number.isFinite(speed) || speed <= 0)
    throw new Error(
      `--speed must be a positive number of simulated seconds per wall second, got ${values.speed}`,
    )
  const challengeWindowMs = process.env.GRIDROOT_ORACLE_CHALLENGE_WINDOW
    ? parseDurationMs(process.env.GRIDROOT_ORACLE_CHALLENGE_WINDOW)
    : demoChallengeWindowMs(epochMs, speed)
  if (challengeWindowMs < GUARDIAN_MIN_CHALLENGE_WINDOW_MS)
    console.warn(
      `[start] warning: a ${challengeWindowMs / 1000} s challenge window may end before the guardian can reject a bad root (it needs about ${GUARDIAN_MIN_CHALLENGE_WINDOW_MS / 1000} s); anyone can finalize it then`,
    )
  if (!oracleKeepsUp(epochMs, speed, challengeWindowMs))
    console.warn(
      `[start] warning: an epoch closes every ${epochMs / speed / 1000} s of wall time, but a pool finalizes at most one epoch per ${challengeWindowMs / 1000} s challenge window: the oracle will fall behind (use a longer --epoch or a lower --speed)`,
    )
  const stack = await startStack({
    runDir: values['run-dir'],
    ports: 'preferred',
    reuse: true,
    onProgress: printProgress,
  })
  const runDir = stack.runDir
  const workDir = join(runDir, 'system')
  const logDir = join(runDir, 'logs')
  mkdirSync(workDir, { recursive: true })
  mkdirSync(logDir, { recursive: true })

  const runId = Date.now().toString(36)
  const registryFile = join(workDir, 'registry.json')
  const fleetArgs = [
    '--chargers',
    values.chargers,
    '--pv',
    values.pv,
    '--swap',
    values.swap,
    '--seed',
    'demo',
  ]
  const fleet = createFleet({
    seed: 'demo',
    chargers: Number(values.chargers),
    pv: Number(values.pv),
    swap: Number(values.swap),
    startMs: Date.parse(GENESIS),
    sampleMs: 300_000,
  })
  writeFileSync(registryFile, JSON.stringify(fleet.registry(), null, 1))
  // A fresh demo: the fleet starts again at genesis with seq 1, so each run gets a database of
  // its own (earlier demo databases are dropped; a database is never dropped and recreated under
  // the same name, which InfluxDB 1.8's Flux engine does not notice until restarted).
  const influxDatabase = `demo_${runId}`
  await dropOldDemoDatabases(stack.endpoints.influx.url)
  await createDatabase(stack.endpoints.influx.url, influxDatabase)
  const influxEndpoint = { ...stack.endpoints.influx, bucket: `${influxDatabase}/autogen` }

  // Every service's port, reserved up front for the whole run (stack/service-ports.ts).
  const reservations = createPortReservations()
  const servicePorts = createServicePorts({ reservations, owner: runDir })
  process.on('exit', () => servicePorts.releaseAll())
  for (const [name, { preferred }] of Object.entries(SERVICE_PORTS)) {
    const port = await servicePorts.take(name, preferred)
    if (port !== preferred) {
      const holder = reservations.holder(preferred)
      console.log(
        `[start] port ${preferred} is ${holder === undefined ? `in use by ${describeHolder(preferred)}` : `reserved by another npm start (pid ${holder.pid}, ${holder.owner})`}; ${name} uses ${port}`,
      )
    }
  }
  // A fresh operator key per run, printed once as part of the dashboard link (in the fragment,
  // which browsers never send to a server).
  const apiKey = process.env.GRIDROOT_API_KEYS ? undefined : randomBytes(24).toString('hex')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...endpointsToEnv({ ...stack.endpoints, influx: influxEndpoint }),
    GRIDROOT_REGISTRY_FILE: registryFile,
    GRIDROOT_CONTRACTS_FILE: process.env.GRIDROOT_CONTRACTS_FILE ?? join(runDir, 'contracts.json'),
    GRIDROOT_ARTIFACT_DIR: join(runDir, 'artifacts'),
    GRIDROOT_KAFKA_TOPIC_PREFIX: `demo-${runId}.`,
    // Its own MQTT namespace too: devices of test runs or another demo on the same broker are
    // not this ingest's (they were dead-lettered here as BAD_SIGNATURE / UNKNOWN_DEVICE).
    GRIDROOT_MQTT_TOPIC_PREFIX: process.env.GRIDROOT_MQTT_TOPIC_PREFIX ?? `demo-${runId}/`,
    GRIDROOT_EPOCH_GENESIS: GENESIS,
    GRIDROOT_EPOCH_LENGTH: String(epochMs),
    GRIDROOT_INGEST_SHARED_GROUP: `demo-${runId}`,
    GRIDROOT_INGEST_INSTANCE: `demo-ingest-${runId}`,
    GRIDROOT_INGEST_SESSION_EXPIRY_SEC: '300',
    // A demo fleet of a few hundred devices needs few connections; 1024 (the default, for real
    // fleets) took more than ingest's 60 s connect deadline on a loaded 2-core machine.
    GRIDROOT_INGEST_MQTT_CONNECTIONS: process.env.GRIDROOT_INGEST_MQTT_CONNECTIONS ?? '16',
    GRIDROOT_AGG_GROUP: `demo-aggregator-${runId}`,
    GRIDROOT_AGG_GRACE: String(Math.min(3_600_000, epochMs)),
    // Device time runs at the simulator's speed: the aggregator bounds device clocks by it.
    GRIDROOT_AGG_DEVICE_TIME_SPEED: values.speed,
    ...(apiKey === undefined ? {} : { GRIDROOT_API_KEYS: `demo:${apiKey}` }),
  }
  let stopping = false
  let bannerPrinted = false
  const supervisor = createSupervisor({ log: (line) => console.error(line) })
  // Assigned once everything is started; a give-up before that fails the start-up wait instead.
  let stopOnGiveUp: ((error: Error) => void) | undefined
  const runner = createServiceRunner({
    supervisor,
    ports: servicePorts,
    log: (line) => console.error(line),
    onGiveUp: (_name, error) => stopOnGiveUp?.(error),
    // Before the banner the moves are in the banner; after it, the new dashboard link is printed.
    onMove: (name, port) => {
      if (name === 'api' && bannerPrinted)
        console.log(`[start] the API moved: dashboard ${dashboardUrl(port, apiKey)}`)
    },
  })
  const children = runner.services
  /** Starts a service; supervised ones are started again when they exit (stack/supervisor.ts). */
  const run = (
    name: string,
    args: string[],
    extraEnv: NodeJS.ProcessEnv = {},
    { supervised = true }: { readonly supervised?: boolean } = {},
  ) => {
    const logPath = join(logDir, `${name}.log`)
    const log = createWriteStream(logPath, { flags: 'a' })
    const [entry = '', ...rest] = args
    const { command, args: nodeArgs } = nodeTsArgs(entry)
    const start = (portEnv: NodeJS.ProcessEnv): ChildProcess => {
      const child = spawn(command, [...nodeArgs, ...rest], {
        cwd: REPO_ROOT,
        env: { ...env, ...extraEnv, ...portEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      // Not ended with the child: a restarted process writes on in the same log.
      child.stdout?.pipe(log, { end: false })
      child.stderr?.pipe(log, { end: false })
      child.once('exit', (code, signal) => {
        if (!stopping)
          console.error(`[start] ${name} exited (${signal ?? code}); see ${relative(REPO_ROOT, logPath)}`)
      })
      return child
    }
    const portEnv = (SERVICE_PORTS as Partial<Record<string, { env: string }>>)[name]?.env
    return runner.run(name, start, { supervised, ...(portEnv === undefined ? {} : { portEnv }) })
  }
  // Fresh contracts per demo run: the fleet starts again at genesis (epoch 0) with a new topic
  // prefix and database, so the pools' oracle and distributor epochs must start at 0 too (on
  // contracts of an earlier run they would wait for that run's next epoch).
  // Each pool's chain clock (docs/architecture.md, "Epoch → chain window") is on its
  // RevenueDistributor: created with a chain genesis in the future (so still adjustable) and the
  // simulator's speed, then set to the second the simulation starts (startEpochClocks below).
  // The chain's clock, not this host's, places the pools' epochs on-chain: anvil keeps a time
  // offset (evm_increaseTime, a state loaded or reverted by an earlier run or a test), and epochs
  // placed on the host's clock then end long before or after the fleet's (attack10c F7: 16 min
  // without a payout after a chain reset and redeploy).
  const chainOffsetS = (await chainNowS(stack.endpoints.chain.rpcUrl)) - Math.floor(Date.now() / 1000)
  if (Math.abs(chainOffsetS) > 5)
    console.log(
      `[start] the chain's clock is ${chainOffsetS} s from this host's; epochs are placed on the chain's`,
    )
  await deployAndApplyPools(
    {
      ...env,
      GRIDROOT_CHAIN_CLOCK_GENESIS_S: String(Math.floor(Date.now() / 1000) + chainOffsetS + 3_600),
      GRIDROOT_CHAIN_CLOCK_SPEEDUP: values.speed,
      GRIDROOT_ORACLE_CHALLENGE_WINDOW: String(challengeWindowMs),
    },
    'config/pools.json',
    { fresh: true },
  )
  run('ingest', ['services/ingest/main.ts'])
  run('aggregator', ['services/aggregator/main.ts'])
  // The local stack's holder view offers anvil's dev accounts (the API refuses this off anvil).
  run('api', ['services/api/main.ts'], {
    GRIDROOT_API_DEV_WALLET: process.env.GRIDROOT_API_DEV_WALLET ?? 'anvil',
  })
  // The oracle: three signers (one reads InfluxDB, two replay telemetry.v1 themselves; threshold
  // two on-chain) and the submitter, on the dev accounts the deployment made signers. The
  // submitter sends from a dev account of its own (no role needed), funded here. The guardian
  // rejects pending roots that are not what the telemetry gives, from the dev account the
  // deployment granted GUARDIAN_ROLE (GRIDROOT_ORACLE_GUARDIAN defaults to it on anvil).
  const devKey = (index: number) =>
    `0x${Buffer.from(devAccount(index).getHdKey().privateKey as Uint8Array).toString('hex')}`
  const SUBMITTER_ACCOUNT = 10
  await fetch(stack.endpoints.chain.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'anvil_setBalance',
      params: [devAccount(SUBMITTER_ACCOUNT).address, '0x3635c9adc5dea00000'],
    }),
  })
  for (const [i, source] of ['influx', 'replay', 'replay'].entries()) {
    run(`oracle-signer-${i + 1}`, ['services/oracle/main.ts'], {
      GRIDROOT_ORACLE_ROLE: 'signer',
      GRIDROOT_ORACLE_INSTANCE: `demo-${runId}-signer-${i + 1}`,
      GRIDROOT_ORACLE_SOURCE: source,
      GRIDROOT_ORACLE_SIGNER_KEY: devKey(DEV_ACCOUNT_ROLES.oracleSigners[i] as number),
    })
  }
  run('oracle-submitter', ['services/oracle/main.ts'], {
    GRIDROOT_ORACLE_ROLE: 'submitter',
    GRIDROOT_ORACLE_INSTANCE: `demo-${runId}-submitter`,
    GRIDROOT_ORACLE_SUBMITTER_KEY: devKey(SUBMITTER_ACCOUNT),
  })
  run('oracle-guardian', ['services/oracle/main.ts'], {
    GRIDROOT_ORACLE_ROLE: 'guardian',
    GRIDROOT_ORACLE_INSTANCE: `demo-${runId}-guardian`,
    GRIDROOT_ORACLE_GUARDIAN_KEY: devKey(DEV_ACCOUNT_ROLES.guardian),
    // One file per run folder: a later run's fresh contracts make it ignore an earlier run's.
    GRIDROOT_ORACLE_GUARDIAN_CHECKPOINT: join(runDir, 'guardian-checkpoint.json'),
  })
  // The fleet starts only once ingest takes its messages (subscribed, Kafka connected): MQTT
  // keeps nothing for a share group nobody has joined yet, so a fleet started ahead of ingest
  // loses its first readings (on a busy machine ingest needs tens of seconds to start).
  const abortStart = async (error: unknown): Promise<never> => {
    stopping = true
    supervisor.stop()
    for (const { child } of children) child.kill('SIGTERM')
    if (stack.startedHere) await stack.stop()
    throw error
  }
  try {
    await runner.untilUp('ingest', { healthy: true, waitMs: UP_WAIT_MS })
    await runner.untilUp('aggregator', { healthy: true, waitMs: UP_WAIT_MS })
  } catch (error) {
    await abortStart(error)
  }
  // The pools' chain clocks: device genesis is this second on anvil's wall clock, and device
  // time runs `speed` times faster. Set on-chain first, then the simulation starts at that second.
  const simulationStartS = Math.floor(Date.now() / 1000) + 5
  const clockOffsetS = (await chainNowS(stack.endpoints.chain.rpcUrl)) - Math.floor(Date.now() / 1000)
  await startEpochClocks(env, simulationStartS + clockOffsetS)
  await new Promise((r) => setTimeout(r, Math.max(0, simulationStartS * 1000 - Date.now())))
  run(
    'simulator',
    [
      'simulators/cli.ts',
      ...fleetArgs,
      '--start',
      GENESIS,
      '--duration',
      '3650d',
      '--speed',
      values.speed,
      ...(values.faults ? ['--faults', values.faults] : []),
    ],
    {},
    // A restarted fleet would publish from genesis again with seq 1: not a service to restart.
    { supervised: false },
  )
  run('distributor', ['services/distributor/main.ts'])
  // Not "running" before every service listens on its own port: the banner's URLs are theirs.
  try {
    await Promise.all(
      (Object.keys(SERVICE_PORTS) as ServiceName[])
        .filter((name) => name !== 'ingest' && name !== 'aggregator')
        .map((name) => runner.untilUp(name, { healthy: false, waitMs: UP_WAIT_MS })),
    )
  } catch (error) {
    await abortStart(error)
  }

  console.log(
    formatBanner({
      runId,
      fleet: `${fleet.devices.length} devices (${values.chargers} chargers, ${values.pv} PV plants, ${values.swap} swap cabinets), ${values.speed}× real time`,
      mqtt: `${stack.endpoints.mqtt.url}   topics ${env.GRIDROOT_MQTT_TOPIC_PREFIX}gridroot/v1/{charger|pv|swap}/{deviceId}/telemetry`,
      kafka: `${stack.endpoints.kafka.brokers.join(',')}   topics demo-${runId}.telemetry.v1 / .telemetry.dlq`,
      influx: `${stack.endpoints.influx.url}   bucket ${influxEndpoint.bucket} (measurements: interval, epoch_device, epoch_pool, quarantine…)`,
      chain: `${stack.endpoints.chain.rpcUrl} (anvil, chain id ${stack.endpoints.chain.chainId})`,
      challengeWindowS: challengeWindowMs / 1000,
      artifactsDir: relative(REPO_ROOT, join(runDir, 'artifacts')),
      logDir: relative(REPO_ROOT, logDir),
      apiKey,
      stackStartedHere: stack.startedHere,
      port: (name) => runner.port(name),
    }),
  )
  bannerPrinted = true

  const influx = createInflux(influxEndpoint)
  // The oracle's progress per pool from RevenueOracle (stack/oracle-progress.ts), not from one
  // submitter's counter, which sums the pools and starts again at 0 when that process restarts.
  const contracts = loadContractsFile(env.GRIDROOT_CONTRACTS_FILE as string)
  const { publicClient } = createChainClients(stack.endpoints.chain)
  const oraclePools: OraclePools = {
    async pool(poolId) {
      const p = await publicClient.readContract({
        address: contracts.contracts.revenueOracle as Address,
        abi: revenueOracleAbi,
        functionName: 'poolOf',
        args: [poolIdToBytes32(poolId)],
      })
      return p.registered ? { firstEpoch: Number(p.firstEpoch), nextEpoch: Number(p.nextEpoch) } : undefined
    },
    async deployed() {
      const code = await publicClient.getCode({ address: contracts.contracts.revenueOracle as Address })
      return code !== undefined && code !== '0x'
    },
  }
  const poolIds = Object.keys(contracts.pools).sort()
  // Read only from this run's process on the port: while a service restarts, whatever else
  // answers there is not counted ("…" instead).
  const ownMetric = async (service: ServiceName, name: string) =>
    runner.ownsPort(service) ? metric(runner.port(service), name) : undefined
  const status = setInterval(async () => {
    const [accepted, rejected, applied, closed, oracle, funded] = await Promise.all([
      ownMetric('ingest', 'gridroot_ingest_readings_accepted_total'),
      ownMetric('ingest', 'gridroot_ingest_messages_rejected_total'),
      ownMetric('aggregator', 'gridroot_aggregator_readings_applied_total'),
      ownMetric('aggregator', 'gridroot_aggregator_closed_epoch'),
      readOracleProgress(oraclePools, poolIds),
      ownMetric('distributor', 'gridroot_distributor_funded_units_total'),
    ])
    let revenue = ''
    try {
      const rows = await influx.queryApi.collectRows<{
        pool: string
        _value: number
      }>(`from(bucket: "${influxEndpoint.bucket}")
  |> range(start: 2000-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "epoch_pool" and r._field == "revenueUnits")
  |> group(columns: ["pool"]) |> sum()`)
      revenue = rows.map((r) => `${r.pool} HKD ${formatUnits(BigInt(Math.round(r._value)))}`).join(', ')
    } catch (error) {
      revenue = `(query failed: ${error instanceof Error ? error.message.slice(0, 120) : error})`
    }
    console.log(
      `[status] ingest: ${shown(accepted)} readings accepted, ${shown(rejected)} rejected | aggregator: ${shown(applied)} readings, epochs closed through ${shown(closed)} | ${formatOracleProgress(oracle)} | distributor: ${funded === undefined ? '…' : `HKD ${formatUnits(BigInt(funded))}`} funded for holders | revenue of closed epochs: ${revenue || 'none yet'}`,
    )
  }, 10_000)

  const stop = async (exitCode = 0) => {
    if (stopping) return
    stopping = true
    supervisor.stop()
    clearInterval(status)
    console.log('[start] stopping the simulator, ingest, the aggregator and the API…')
    for (const { child } of [...children].reverse()) child.kill('SIGTERM')
    await Promise.all(
      children.map(({ child }) =>
        // Killed by a signal, a process has no exit code but a signal code.
        child.exitCode === null && child.signalCode === null
          ? new Promise((r) => child.once('exit', r))
          : undefined,
      ),
    )
    if (stack.startedHere) await stack.stop()
    process.exit(exitCode)
  }
  stopOnGiveUp = (error) => {
    console.error(`[start] ${error.message}; stopping`)
    void stop(1)
  }
  process.on('SIGINT', () => stop())
  process.on('SIGTERM', () => stop())
  // `npm start` run by a supervisor and stopped with SIGTERM to npm: the shell between npm and
  // this process may die without passing it on, leaving this process orphaned (re-parented).
  // Stop everything then too, rather than leave the services running without their stack.
  const parentPid = process.ppid
  const orphanCheck = setInterval(() => {
    if (process.ppid !== parentPid) {
      clearInterval(orphanCheck)
      console.log(`[start] parent process ${parentPid} is gone; stopping`)
      void stop()
    }
  }, 1_000).unref()
}

/**
 * The chain's current second: anvil mines a block on request, stamped with its clock (the host's
 * plus any offset it keeps), so the latest block's time is the chain's now, not the time of
 * whatever block was mined last.
 */
async function chainNowS(rpcUrl: string): Promise<number> {
  const rpc = async (method: string, params: unknown[]) => {
    const response = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    })
    const body = (await response.json()) as { result?: unknown; error?: { message: string } }
    if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`)
    return body.result
  }
  await rpc('evm_mine', [])
  const block = (await rpc('eth_getBlockByNumber', ['latest', false])) as { timestamp: string }
  return Number(BigInt(block.timestamp))
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
