import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Endpoints } from '../runtime/endpoints.ts'
import { STACK_ERROR_CODES, StackError } from './errors.ts'
import { acquireRunDirLock } from './lock.ts'
import { runPaths } from './paths.ts'
import { createPortAllocator, type PortMode } from './ports.ts'
import { tailFile } from './process.ts'
import { type OnProgress, reporter, SERVER_NAMES, type ServerName } from './progress.ts'
import { errorMessage, retryUntil } from './retry.ts'
import { endpointsFromPorts, SERVERS } from './servers/registry.ts'
import type { StartedServer } from './servers/types.ts'
import { readState, STATE_FORMAT_VERSION, type StackState, writeState } from './state.ts'
import { checkServers, isHealthy } from './status.ts'
import { recordedTargets, removeStateFiles, stopServers } from './stop.ts'

export { STACK_ERROR_CODES, StackError } from './errors.ts'
export { DEFAULT_RUN_DIR } from './paths.ts'
export type { PortMode } from './ports.ts'
export { formatProgress, printProgress, type StackProgressEvent } from './progress.ts'
export { readState } from './state.ts'
export { checkServers, type ServerStatus } from './status.ts'
export { stopStack } from './stop.ts'

export interface StartStackOptions {
  /** Configs, data, logs, pid files, state.json and stack.env of this stack go here. */
  readonly runDir: string
  /** 'preferred' (default) tries 1883/9092/8086/8545 first; 'free' never uses well-known ports. */
  readonly ports?: PortMode
  readonly onProgress?: OnProgress
  /** Return the stack already running in runDir when it is healthy (default true). */
  readonly reuse?: boolean
  /** Per server: from spawn until its port opens (default 120 s; a cold JVM on 2 cores is slow). */
  readonly startTimeoutMs?: number
  /** Per server: from its port opening until its round-trip probe passes (default 90 s). */
  readonly probeTimeoutMs?: number
}

export interface ServerInfo {
  readonly name: ServerName
  readonly pid: number
  readonly port: number
  readonly url: string
  readonly logFile: string
  readonly version: string
  readonly startedAtIso: string
}

export interface StackHandle {
  readonly endpoints: Endpoints
  readonly runDir: string
  readonly servers: readonly ServerInfo[]
  /** False when an already running stack was reused. */
  readonly startedHere: boolean
  /**
   * Stops the servers this handle started. A reused stack is left running unless `force` is
   * set, because someone else started it.
   */
  stop(options?: { readonly force?: boolean }): Promise<void>
}

/**
 * Starts Mosquitto, Kafka, InfluxDB and anvil (provisioning them into the cache on first use),
 * waits until each passes a round-trip probe, and records them in `<runDir>/state.json` and
 * `<runDir>/stack.env`. The servers are detached: they keep running after this process exits
 * until `stop()` or `stack down`.
 *
 * @example
 * const stack = await startStack({ runDir: '.run/test', ports: 'free', onProgress: printProgress })
 * const kafka = createKafka(stack.endpoints.kafka, 'my-test')
 * await stack.stop()
 */
export async function startStack(options: StartStackOptions): Promise<StackHandle> {
  const runDir = resolve(options.runDir)
  const report = reporter('stack', options.onProgress)
  mkdirSync(runDir, { recursive: true })
  const release = acquireRunDirLock(runDir)
  try {
    if (options.reuse ?? true) {
      const reused = await reuseRunning(runDir, options.onProgress)
      if (reused !== undefined) return reused
    }
    const leftovers = recordedTargets(runDir)
    if (leftovers.length > 0) {
      report('start', `stopping what is left of an earlier stack in ${runDir}`)
      await stopServers(runDir, leftovers, options.onProgress)
      removeStateFiles(runDir)
    }
    return await startFresh(runDir, options)
  } finally {
    release()
  }
}

/** The handle of the healthy stack recorded in runDir, or undefined. */
export async function reuseStack(runDir: string, onProgress?: OnProgress): Promise<StackHandle | undefined> {
  return reuseRunning(resolve(runDir), onProgress)
}

async function reuseRunning(
  runDir: string,
  onProgress: OnProgress | undefined,
): Promise<StackHandle | undefined> {
  const report = reporter('stack', onProgress)
  const state = readState(runDir)
  if (state === undefined) return undefined
  const statuses = await checkServers(state)
  if (!isHealthy(statuses)) {
    const unhealthy = statuses
      .filter((status) => !(status.running && status.probe.ok))
      .map((status) => status.name)
    report(
      'reuse',
      `the stack recorded in ${runDir} is not healthy (${unhealthy.join(', ')}); starting a new one`,
      {
        level: 'warn',
      },
    )
    return undefined
  }
  report('reuse', `reusing the running stack in ${runDir} (all probes pass)`)
  return handleFor(state, false, onProgress)
}

function handleFor(state: StackState, startedHere: boolean, onProgress: OnProgress | undefined): StackHandle {
  return {
    endpoints: state.endpoints,
    runDir: state.runDir,
    servers: state.servers.map((server) => ({
      name: server.name,
      pid: server.pid,
      port: server.port,
      url: SERVERS[server.name].url(state.endpoints),
      logFile: server.logFile,
      version: server.version,
      startedAtIso: server.startedAtIso,
    })),
    startedHere,
    async stop(stopOptions = {}) {
      if (!startedHere && stopOptions.force !== true) return
      const release = acquireRunDirLock(state.runDir)
      try {
        await stopServers(state.runDir, state.servers, onProgress)
        removeStateFiles(state.runDir)
      } finally {
        release()
      }
    },
  }
}

async function startFresh(runDir: string, options: StartStackOptions): Promise<StackHandle> {
  const startedMs = Date.now()
  const report = reporter('stack', options.onProgress)
  const portMode = options.ports ?? 'preferred'
  const allocator = createPortAllocator(portMode)
  const ports = {} as Record<ServerName, number>
  const extraPorts = {} as Record<ServerName, Record<string, number>>
  for (const name of SERVER_NAMES) {
    const definition = SERVERS[name]
    ports[name] = await allocator.take(definition.preferredPort)
    extraPorts[name] = {}
    for (const [role, preferred] of Object.entries(definition.extraPorts)) {
      extraPorts[name][role] = await allocator.take(preferred)
    }
    if (portMode === 'preferred' && ports[name] !== definition.preferredPort) {
      reporter(name, options.onProgress)(
        'start',
        `port ${definition.preferredPort} is taken, using ${ports[name]}`,
        {
          level: 'warn',
        },
      )
    }
  }
  const endpoints = endpointsFromPorts(ports)
  report('start', `starting mosquitto, kafka, influxdb and anvil in ${runDir} (ports: ${portMode})`)

  // All four start at once: Kafka's JVM dominates, the others are ready long before it.
  const outcomes = await Promise.allSettled(
    SERVER_NAMES.map((name) =>
      startAndProbe(name, runDir, ports[name], extraPorts[name], endpoints, options),
    ),
  )
  const started = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))
  const failures = outcomes.flatMap((outcome) =>
    outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
  )
  if (failures.length > 0) {
    report('start', 'start-up failed; stopping what did start', { level: 'warn' })
    // Pid files also cover servers that were spawned but failed before they were recorded.
    await stopServers(runDir, recordedTargets(runDir), options.onProgress)
    throw failures.length === 1 ? failures[0] : combinedFailure(failures)
  }

  const state: StackState = {
    formatVersion: STATE_FORMAT_VERSION,
    runDir,
    createdAtIso: new Date(startedMs).toISOString(),
    portMode,
    endpoints,
    servers: started.map(({ spawned: _spawned, ...record }) => record),
  }
  writeState(state)
  const handle = handleFor(state, true, options.onProgress)
  for (const server of handle.servers) {
    reporter(server.name, options.onProgress)(
      'ready',
      `${server.version} at ${server.url} (log ${server.logFile})`,
      {
        data: {
          pid: server.pid,
          port: server.port,
          url: server.url,
          logFile: server.logFile,
          version: server.version,
        },
      },
    )
  }
  report(
    'ready',
    `all servers healthy in ${((Date.now() - startedMs) / 1000).toFixed(1)} s; endpoints in ${runPaths(runDir).envFile}`,
    {
      data: { startupMs: Date.now() - startedMs, envFile: runPaths(runDir).envFile },
    },
  )
  return handle
}

async function startAndProbe(
  name: ServerName,
  runDir: string,
  port: number,
  extraPorts: Readonly<Record<string, number>>,
  endpoints: Endpoints,
  options: StartStackOptions,
): Promise<StartedServer> {
  const definition = SERVERS[name]
  const report = reporter(name, options.onProgress)
  const started = await definition.start({
    runDir,
    report,
    port,
    extraPorts,
    startTimeoutMs: options.startTimeoutMs ?? 120_000,
  })
  const probeStartedMs = Date.now()
  try {
    await retryUntil(() => definition.probe(endpoints), {
      timeoutMs: options.probeTimeoutMs ?? 90_000,
      intervalMs: 500,
      onFailure: (error, attempt) => {
        if (attempt % 10 === 0)
          report('probe', `not usable yet after ${attempt} tries: ${errorMessage(error)}`)
      },
    })
  } catch (error) {
    throw new StackError(
      STACK_ERROR_CODES.probeFailed,
      `the health probe kept failing: ${errorMessage(error)}`,
      {
        server: name,
        cause: error,
        metaMessages: [
          `Last lines of ${started.logFile}:`,
          ...(await tailFile(started.logFile, 15)).map((line) => `  ${line}`),
          definition.fix.replace('<runDir>', runDir),
        ],
      },
    )
  }
  report('probe', `round trip passed (${Date.now() - probeStartedMs} ms after the port opened)`)
  return started
}

function combinedFailure(failures: readonly unknown[]): StackError {
  return new StackError(STACK_ERROR_CODES.startFailed, `${failures.length} servers failed to start`, {
    cause: failures[0],
    metaMessages: failures.map((failure) => errorMessage(failure)),
  })
}
