import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { formatBanner } from './banner.ts'
import { listensOn } from './port-owner.ts'
import { createPortReservations } from './port-reservations.ts'
import { ephemeralPort, type PortProbe } from './ports.ts'
import { createServicePorts, MAX_PORT_MOVES, SERVICE_PORTS } from './service-ports.ts'
import { createServiceRunner, type ServicePortError } from './service-runner.ts'
import { createSupervisor, type Supervisor } from './supervisor.ts'

const FAKE_SERVICE = join(import.meta.dirname, 'testing', 'fake-service.mjs')
const servers: Server[] = []
const supervisors: Supervisor[] = []
const spawned: ChildProcess[] = []
afterEach(async () => {
  for (const s of supervisors.splice(0)) s.stop()
  for (const c of spawned.splice(0)) c.kill('SIGKILL')
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

/** Another run's service on the port: answers /healthz 200, like a healthy gridroot service. */
async function otherRunsService(port: number): Promise<Server | undefined> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"ok":true,"other":"run"}')
  })
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined))
    server.listen(port, '127.0.0.1', () => {
      servers.push(server)
      resolve(server)
    })
  })
}

function setUp(probe?: PortProbe) {
  const logs: string[] = []
  const gaveUp: ServicePortError[] = []
  const supervisor = createSupervisor({ log: (l) => logs.push(l) })
  supervisors.push(supervisor)
  const ports = createServicePorts({
    reservations: createPortReservations({ dir: mkdtempSync(join(tmpdir(), 'gridroot-runner-')) }),
    owner: 'test run',
    ...(probe === undefined ? {} : { probe }),
  })
  const runner = createServiceRunner({
    supervisor,
    ports,
    log: (l) => logs.push(l),
    onGiveUp: (_name, error) => gaveUp.push(error),
    pollMs: 50,
  })
  const runFake = (name: string, portEnv: string) =>
    runner.run(
      name,
      (env) => {
        const child = spawn(process.execPath, [FAKE_SERVICE], {
          env: { ...process.env, ...env, FAKE_SERVICE_PORT_ENV: portEnv },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        spawned.push(child)
        return child
      },
      { portEnv },
    )
  return { logs, gaveUp, ports, runner, runFake }
}

const banner = (port: (name: string) => number) =>
  formatBanner({
    runId: 'test',
    fleet: '3 devices',
    mqtt: 'mqtt://127.0.0.1:1883',
    kafka: '127.0.0.1:9092',
    influx: 'http://127.0.0.1:8086',
    chain: 'http://127.0.0.1:8545',
    challengeWindowS: 20,
    artifactsDir: '.run/x/artifacts',
    logDir: '.run/x/logs',
    apiKey: 'k'.repeat(48),
    stackStartedHere: true,
    port,
  })

describe('npm start services on ports of their own', () => {
  it('with 8080 and 9465 held by another run, the API and the aggregator get other ports and the banner names them', async () => {
    // Held by this test, or already by something else on this machine: either way not free.
    await otherRunsService(8080)
    await otherRunsService(9465)
    const { runner, runFake, ports } = setUp()
    for (const [name, { preferred }] of Object.entries(SERVICE_PORTS)) await ports.take(name, preferred)
    expect(ports.port('api')).not.toBe(8080)
    expect(ports.port('aggregator')).not.toBe(9465)
    const api = runFake('api', SERVICE_PORTS.api.env)
    const aggregator = runFake('aggregator', SERVICE_PORTS.aggregator.env)
    await runner.untilUp('api', { healthy: true, waitMs: 20_000 })
    await runner.untilUp('aggregator', { healthy: true, waitMs: 20_000 })
    expect(listensOn(api.child.pid as number, ports.port('api'))).toBe(true)
    expect(listensOn(aggregator.child.pid as number, ports.port('aggregator'))).toBe(true)
    expect(runner.ownsPort('api')).toBe(true)
    const text = banner((name) => ports.port(name))
    expect(text).toContain(`dashboard    http://127.0.0.1:${ports.port('api')}/#key=`)
    expect(text).toContain(`aggregator http://127.0.0.1:${ports.port('aggregator')}/metrics`)
    expect(text).not.toContain(':8080')
    expect(text).not.toContain(':9465')
  }, 30_000)

  it('a service that lost the race for its port is moved to another; the other run answering 200 there is not taken for it', async () => {
    const lost = await ephemeralPort()
    expect(await otherRunsService(lost)).toBeDefined()
    // The allocation saw the port free (the other run bound it right after): check-then-bind.
    const { runner, runFake, ports, logs } = setUp({
      isFree: async () => true,
      ephemeral: () => ephemeralPort(),
    })
    await ports.take('aggregator', lost)
    const entry = runFake('aggregator', SERVICE_PORTS.aggregator.env)
    const firstPid = entry.child.pid
    await runner.untilUp('aggregator', { healthy: true, waitMs: 20_000 })
    expect(entry.restarts).toBe(1)
    expect(entry.child.pid).not.toBe(firstPid)
    expect(ports.port('aggregator')).not.toBe(lost)
    expect(listensOn(entry.child.pid as number, ports.port('aggregator'))).toBe(true)
    expect(listensOn(entry.child.pid as number, lost)).toBe(false)
    expect(logs.join('\n')).toContain(`[start] aggregator: port ${lost} is in use by pid ${process.pid} (`)
    expect(logs.join('\n')).toContain(
      `moving it to port ${ports.port('aggregator')} (move 1 of ${MAX_PORT_MOVES})`,
    )
    expect(banner((name) => (name === 'aggregator' ? ports.port(name) : 1))).toContain(
      `aggregator http://127.0.0.1:${ports.port('aggregator')}/metrics`,
    )
  }, 30_000)

  it('a service that keeps losing its port is given up on, naming the port and who holds it', async () => {
    const held = await Promise.all(Array.from({ length: MAX_PORT_MOVES + 1 }, () => ephemeralPort()))
    for (const port of held) await otherRunsService(port)
    const queue = held.slice(1)
    const { runner, runFake, ports, gaveUp } = setUp({
      isFree: async () => true,
      ephemeral: async () => queue.shift() ?? 0,
    })
    await ports.take('api', held[0])
    const entry = runFake('api', SERVICE_PORTS.api.env)
    const failure = await runner.untilUp('api', { healthy: true, waitMs: 20_000 }).catch((e: Error) => e)
    const last = held.at(-1) as number
    expect((failure as Error).message).toContain(
      `api could not bind port ${last}: it is in use by pid ${process.pid}`,
    )
    expect(gaveUp).toHaveLength(1)
    expect(entry.restarts).toBe(MAX_PORT_MOVES)
  }, 30_000)

  it('an exit for another reason fails the start-up wait as before (no restart loop to wait through)', async () => {
    const { runner, ports } = setUp()
    await ports.take('ingest', undefined)
    runner.run(
      'ingest',
      () => {
        const child = spawn(process.execPath, ['-e', 'console.error("bad config"); process.exit(1)'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        spawned.push(child)
        return child
      },
      { portEnv: SERVICE_PORTS.ingest.env },
    )
    await expect(runner.untilUp('ingest', { healthy: true, waitMs: 20_000 })).rejects.toThrow(
      'ingest exited (1) before it was up',
    )
  }, 30_000)
})
