import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connectMqtt } from '../../runtime/clients/mqtt.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { runPaths } from '../paths.ts'
import { LOOPBACK } from '../ports.ts'
import { spawnServer, waitForPort } from '../process.ts'
import { ensureMosquitto } from '../provision/mosquitto.ts'
import { withTimeout } from '../retry.ts'
import type { ServerStartContext, StartedServer } from './types.ts'

export interface MosquittoConfigParams {
  readonly port: number
  readonly persistenceDir: string
  /** Mosquitto 2 started as root drops to user `mosquitto`, which cannot write the run folder. */
  readonly runningAsRoot: boolean
}

/** A broker of the project's own: loopback only, anonymous, QoS1 sessions persisted in the run folder. */
export function renderMosquittoConfig(params: MosquittoConfigParams): string {
  const persistenceDir = params.persistenceDir.endsWith('/')
    ? params.persistenceDir
    : `${params.persistenceDir}/`
  return [
    '# Written by gridroot stack/servers/mosquitto.ts; changes are overwritten on the next start.',
    ...(params.runningAsRoot ? ['user root'] : []),
    'per_listener_settings false',
    `listener ${params.port} ${LOOPBACK}`,
    'allow_anonymous true',
    '',
    '# Persistent sessions (clean: false) keep QoS1 messages across restarts of a consumer.',
    'persistence true',
    `persistence_location ${persistenceDir}`,
    'autosave_interval 30',
    'persistent_client_expiration 7d',
    '',
    '# Throughput for QoS1 fan-in: allow many unacknowledged messages per client and a deep',
    '# queue for a consumer that falls behind, rather than dropping at the default of 1000.',
    'max_inflight_messages 1000',
    'max_queued_messages 100000',
    'max_queued_bytes 0',
    'set_tcp_nodelay true',
    '',
    '# stdout goes to the log file the supervisor opened.',
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    'log_timestamp true',
    'log_timestamp_format %Y-%m-%dT%H:%M:%S',
    '',
  ].join('\n')
}

export function mosquittoEndpoint(port: number): Endpoints['mqtt'] {
  return { url: `mqtt://${LOOPBACK}:${port}` }
}

export async function startMosquitto(ctx: ServerStartContext): Promise<StartedServer> {
  const install = await ensureMosquitto(ctx.report)
  const paths = runPaths(ctx.runDir)
  const dir = paths.serverDir('mosquitto')
  const persistenceDir = join(dir, 'data')
  mkdirSync(persistenceDir, { recursive: true })
  const configFile = join(dir, 'mosquitto.conf')
  writeFileSync(
    configFile,
    renderMosquittoConfig({ port: ctx.port, persistenceDir, runningAsRoot: process.getuid?.() === 0 }),
  )
  ctx.report('start', `starting mosquitto ${install.version} on ${LOOPBACK}:${ctx.port}`)
  const logFile = paths.logFile('mosquitto')
  const spawned = spawnServer({
    name: 'mosquitto',
    command: install.binary,
    args: ['-c', configFile],
    logFile,
    pidFile: paths.pidFile('mosquitto'),
    cwd: dir,
  })
  await waitForPort({ name: 'mosquitto', port: ctx.port, timeoutMs: ctx.startTimeoutMs, spawned, logFile })
  return {
    name: 'mosquitto',
    pid: spawned.pid,
    port: ctx.port,
    extraPorts: {},
    version: install.version,
    logFile,
    startedAtIso: spawned.startedAtIso,
    marker: configFile,
    spawned,
  }
}

/** QoS1 publish and subscribe round trip on a topic of its own; the delivery must be QoS1. */
export async function probeMosquitto(endpoints: Endpoints): Promise<void> {
  const client = await withTimeout(
    connectMqtt(endpoints.mqtt, { clientId: `gridroot-probe-${randomUUID()}`, reconnectPeriod: 0 }),
    5_000,
    'MQTT connect',
  )
  try {
    const topic = `_gridroot/probe/${randomUUID()}`
    const nonce = randomUUID()
    const received = new Promise<void>((resolveReceived, reject) => {
      client.on('message', (messageTopic, payload, packet) => {
        if (messageTopic !== topic) return
        if (payload.toString() !== nonce) reject(new Error('MQTT probe received a different payload'))
        else if (packet.qos !== 1)
          reject(new Error(`MQTT probe was delivered at QoS ${packet.qos}, expected 1`))
        else resolveReceived()
      })
    })
    await client.subscribeAsync(topic, { qos: 1 })
    await client.publishAsync(topic, nonce, { qos: 1 })
    await withTimeout(received, 5_000, 'MQTT QoS1 round trip')
  } finally {
    await client.endAsync(true)
  }
}
