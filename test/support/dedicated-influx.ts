/**
 * An InfluxDB of a test's own (the real server, started by the stack's own code), which the
 * test may SIGKILL and restart on the same port and data directory.
 */
import { mkdirSync, rmSync } from 'node:fs'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { createPortAllocator } from '../../stack/ports.ts'
import { reporter } from '../../stack/progress.ts'
import { influxEndpoint, startInfluxdb } from '../../stack/servers/influxdb.ts'
import type { StartedServer } from '../../stack/servers/types.ts'

export interface DedicatedInflux {
  readonly endpoint: Endpoints['influx']
  kill(): Promise<void>
  /** SIGSTOP / SIGCONT: a frozen server keeps its connections open and answers nothing. */
  freeze(): void
  thaw(): void
  start(): Promise<void>
  stop(): Promise<void>
}

export async function startDedicatedInflux(runDir: string): Promise<DedicatedInflux> {
  mkdirSync(runDir, { recursive: true })
  const ports = createPortAllocator('free')
  const port = await ports.take()
  const rpc = await ports.take()
  let server: StartedServer | undefined
  const start = async () => {
    server = await startInfluxdb({
      runDir,
      report: reporter('influxdb', undefined),
      port,
      extraPorts: { rpc },
      startTimeoutMs: 60_000,
    })
  }
  const kill = async () => {
    const current = server
    if (!current) return
    server = undefined
    // A frozen server cannot be reaped until it runs again.
    process.kill(current.pid, 'SIGCONT')
    process.kill(current.pid, 'SIGKILL')
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(current.pid, 0)
      } catch {
        return
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  await start()
  return {
    endpoint: influxEndpoint(port),
    kill,
    freeze: () => {
      if (server) process.kill(server.pid, 'SIGSTOP')
    },
    thaw: () => {
      if (server) process.kill(server.pid, 'SIGCONT')
    },
    start,
    async stop() {
      await kill()
      rmSync(runDir, { recursive: true, force: true })
    },
  }
}
