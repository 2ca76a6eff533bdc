import { mkdtempSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createPortReservations } from './port-reservations.ts'
import type { PortProbe } from './ports.ts'
import { createServicePorts, exitDecision, MAX_PORT_MOVES, portInUseFromOutput } from './service-ports.ts'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      servers.push(server)
      resolve(server)
    })
  })

function fakeProbe(busy: readonly number[], ephemeral: readonly number[]): PortProbe {
  const queue = [...ephemeral]
  return {
    isFree: async (port) => !busy.includes(port),
    ephemeral: async () => queue.shift() ?? 0,
  }
}

const reservationsDir = () => mkdtempSync(join(tmpdir(), 'gridroot-service-ports-'))

describe('portInUseFromOutput', () => {
  it("reads the port of Node's own EADDRINUSE error, in plain text and in a JSON log line", async () => {
    const held = await listen(0)
    const port = (held.address() as { port: number }).port
    const message = await new Promise<string>((resolve) => {
      const second = createServer()
      second.once('error', (e) => resolve(e.message))
      second.listen(port, '127.0.0.1')
    })
    expect(message).toContain('EADDRINUSE')
    expect(portInUseFromOutput(`Error: ${message}\n    at Server.setupListenHandle`)).toBe(port)
    expect(portInUseFromOutput(JSON.stringify({ level: 60, err: { message } }))).toBe(port)
    expect(portInUseFromOutput('connect ECONNREFUSED 127.0.0.1:9092')).toBeUndefined()
  })
})

describe('exitDecision', () => {
  const lost = 'Error: listen EADDRINUSE: address already in use 127.0.0.1:9465'
  it('moves a service that lost its own port, up to MAX_PORT_MOVES times, then gives up', () => {
    expect(exitDecision(lost, 9465, 0)).toEqual({ kind: 'move', port: 9465 })
    expect(exitDecision(lost, 9465, MAX_PORT_MOVES - 1)).toEqual({ kind: 'move', port: 9465 })
    expect(exitDecision(lost, 9465, MAX_PORT_MOVES)).toEqual({ kind: 'give-up', port: 9465 })
  })
  it('any other exit is the usual restart (a crash, 75, another port it could not bind)', () => {
    expect(exitDecision('Kafka consumer stalled; exiting 75', 9465, 0)).toEqual({ kind: 'restart' })
    expect(exitDecision(lost, 41234, 0)).toEqual({ kind: 'restart' })
  })
})

describe('createServicePorts', () => {
  it('takes the preferred port when free and unreserved, else a free one; never one port twice', async () => {
    const ports = createServicePorts({
      reservations: createPortReservations({ dir: reservationsDir() }),
      owner: 'run a',
      probe: fakeProbe([8080], [50_001, 9465, 50_002]),
    })
    expect(await ports.take('aggregator', 9465)).toBe(9465)
    expect(await ports.take('api', 8080)).toBe(50_001)
    // The kernel's next port is already the aggregator's: skipped.
    expect(await ports.take('ingest', 9465)).toBe(50_002)
    expect(ports.port('api')).toBe(50_001)
  })

  it("skips ports another run reserved, even ones that are still free (the other run's service binds later)", async () => {
    const dir = reservationsDir()
    const first = createServicePorts({
      reservations: createPortReservations({ dir }),
      owner: 'run a',
      probe: fakeProbe([], []),
    })
    expect(await first.take('api', 8080)).toBe(8080)
    // The same machine, a second run: 8080 probes free (nothing listens yet) but is reserved.
    const second = createServicePorts({
      reservations: createPortReservations({ dir, pid: process.ppid }),
      owner: 'run b',
      probe: fakeProbe([], [50_010]),
    })
    expect(await second.take('api', 8080)).toBe(50_010)
  })

  it('move gives another reserved port and frees the old one', async () => {
    const dir = reservationsDir()
    const reservations = createPortReservations({ dir })
    const ports = createServicePorts({ reservations, owner: 'run a', probe: fakeProbe([], [50_020]) })
    await ports.take('aggregator', 9465)
    expect(await ports.move('aggregator')).toBe(50_020)
    expect(ports.port('aggregator')).toBe(50_020)
    expect(reservations.holder(9465)).toBeUndefined()
    expect(reservations.holder(50_020)?.owner).toBe('run a aggregator')
  })

  it('on real sockets: a port something listens on is not handed out', async () => {
    const held = await listen(0)
    const port = (held.address() as { port: number }).port
    const ports = createServicePorts({
      reservations: createPortReservations({ dir: reservationsDir() }),
      owner: 'run',
    })
    const got = await ports.take('api', port)
    expect(got).not.toBe(port)
    await listen(got)
  })
})
