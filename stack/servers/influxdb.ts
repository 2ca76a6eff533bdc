import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { flux, Point } from '@influxdata/influxdb-client'
import { createInflux } from '../../runtime/clients/influx.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { runPaths } from '../paths.ts'
import { LOOPBACK } from '../ports.ts'
import { spawnServer, waitForPort } from '../process.ts'
import { ensureInfluxd } from '../provision/influxdb.ts'
import { retryUntil, withTimeout } from '../retry.ts'
import type { ServerStartContext, StartedServer } from './types.ts'

export const INFLUX_DATABASE = 'gridroot'

export interface InfluxConfigParams {
  readonly port: number
  /** The RPC service (backup/restore) listens on :8088 on all interfaces unless told otherwise. */
  readonly rpcPort: number
  readonly dir: string
}

/** TOML basic strings accept JSON's escapes, which covers any path. */
const tomlString = (value: string) => JSON.stringify(value)

/**
 * InfluxDB 1.8 with the v2 API and Flux, on loopback only (1.8 is end-of-life), with every
 * listener the project does not use switched off.
 */
export function renderInfluxConfig(params: InfluxConfigParams): string {
  return [
    '# Written by gridroot stack/servers/influxdb.ts; changes are overwritten on the next start.',
    'reporting-disabled = true',
    `bind-address = ${tomlString(`${LOOPBACK}:${params.rpcPort}`)}`,
    '',
    '[meta]',
    `  dir = ${tomlString(join(params.dir, 'meta'))}`,
    '  retention-autocreate = true',
    '',
    '[data]',
    `  dir = ${tomlString(join(params.dir, 'data'))}`,
    `  wal-dir = ${tomlString(join(params.dir, 'wal'))}`,
    '  query-log-enabled = false',
    '',
    '[monitor]',
    '  store-enabled = false',
    '',
    '[http]',
    '  enabled = true',
    `  bind-address = ${tomlString(`${LOOPBACK}:${params.port}`)}`,
    '  auth-enabled = false',
    '  flux-enabled = true',
    '  flux-log-enabled = false',
    '  # One line per write request would fill the log under load.',
    '  log-enabled = false',
    '  pprof-enabled = false',
    '',
    '[logging]',
    '  level = "info"',
    '  suppress-logo = true',
    '',
    '[subscriber]',
    '  enabled = false',
    '',
    '[[graphite]]',
    '  enabled = false',
    '',
    '[[collectd]]',
    '  enabled = false',
    '',
    '[[opentsdb]]',
    '  enabled = false',
    '',
    '[[udp]]',
    '  enabled = false',
    '',
    '[continuous_queries]',
    '  enabled = true',
    '  log-enabled = false',
    '',
  ].join('\n')
}

export function influxEndpoint(port: number): Endpoints['influx'] {
  // Auth is off: any `user:password` token works; the bucket is `database/retention-policy`.
  return {
    url: `http://${LOOPBACK}:${port}`,
    token: 'gridroot:gridroot',
    org: 'gridroot',
    bucket: `${INFLUX_DATABASE}/autogen`,
  }
}

export async function startInfluxdb(ctx: ServerStartContext): Promise<StartedServer> {
  const install = await ensureInfluxd(ctx.report)
  const rpcPort = ctx.extraPorts.rpc
  if (rpcPort === undefined) throw new Error('startInfluxdb needs extraPorts.rpc')
  const paths = runPaths(ctx.runDir)
  const dir = paths.serverDir('influxdb')
  mkdirSync(dir, { recursive: true })
  const configFile = join(dir, 'influxdb.conf')
  writeFileSync(configFile, renderInfluxConfig({ port: ctx.port, rpcPort, dir }))
  ctx.report('start', `starting influxd ${install.version} on ${LOOPBACK}:${ctx.port}`)
  const logFile = paths.logFile('influxdb')
  const spawned = spawnServer({
    name: 'influxdb',
    command: install.binary,
    args: ['run', '-config', configFile],
    logFile,
    pidFile: paths.pidFile('influxdb'),
    cwd: dir,
    // INFLUXDB_* variables override the config file; the stack's config must be the one used.
    env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('INFLUXDB_'))),
  })
  await waitForPort({ name: 'influxdb', port: ctx.port, timeoutMs: ctx.startTimeoutMs, spawned, logFile })
  await retryUntil(() => createDatabase(influxEndpoint(ctx.port).url, INFLUX_DATABASE), {
    timeoutMs: 30_000,
    intervalMs: 300,
  })
  return {
    name: 'influxdb',
    pid: spawned.pid,
    port: ctx.port,
    extraPorts: { rpc: rpcPort },
    version: install.version,
    logFile,
    startedAtIso: spawned.startedAtIso,
    marker: configFile,
    spawned,
  }
}

/** InfluxQL `CREATE DATABASE` is idempotent; the v2 write API needs the database to exist. */
export async function createDatabase(url: string, database: string): Promise<void> {
  const response = await fetch(`${url}/query`, {
    method: 'POST',
    body: new URLSearchParams({ q: `CREATE DATABASE ${JSON.stringify(database)}` }),
    signal: AbortSignal.timeout(5_000),
  })
  const body = await response.text()
  if (!response.ok || body.includes('"error"')) {
    throw new Error(`CREATE DATABASE ${database} answered ${response.status}: ${body.slice(0, 200)}`)
  }
}

/** Write a point with a nonce through the v2 API, then read it back with Flux. */
export async function probeInfluxdb(endpoints: Endpoints): Promise<void> {
  const influx = createInflux(endpoints.influx, { timeoutMs: 5_000 })
  const nonce = randomUUID()
  const writer = influx.writeApi('ms', { maxRetries: 0 })
  writer.writePoint(new Point('_probe').tag('source', 'stack').stringField('nonce', nonce))
  await writer.close()
  const query = flux`from(bucket: ${endpoints.influx.bucket})
    |> range(start: -10m)
    |> filter(fn: (r) => r._measurement == "_probe" and r._field == "nonce" and r._value == ${nonce})`
  const rows = await withTimeout(influx.queryApi.collectRows<{ _value: string }>(query), 5_000, 'Flux query')
  if (!rows.some((row) => row._value === nonce)) {
    throw new Error('InfluxDB probe: the Flux query did not return the point just written')
  }
}
