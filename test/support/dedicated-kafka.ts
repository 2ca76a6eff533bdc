/**
 * A Kafka of a test's own (the real server, started by the stack's own code), which the test may
 * freeze (SIGSTOP) without touching the shared stack's.
 */
import { mkdirSync, rmSync } from 'node:fs'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { createPortAllocator } from '../../stack/ports.ts'
import { reporter } from '../../stack/progress.ts'
import { kafkaEndpoint, startKafka } from '../../stack/servers/kafka.ts'

export interface DedicatedKafka {
  readonly endpoint: Endpoints['kafka']
  readonly pid: number
  /** SIGSTOP / SIGCONT: a frozen broker keeps its connections open and answers nothing. */
  freeze(): void
  thaw(): void
  stop(): Promise<void>
}

export async function startDedicatedKafka(runDir: string): Promise<DedicatedKafka> {
  mkdirSync(runDir, { recursive: true })
  const ports = createPortAllocator('free')
  const port = await ports.take()
  const controller = await ports.take()
  const server = await startKafka({
    runDir,
    report: reporter('kafka', undefined),
    port,
    extraPorts: { controller },
    startTimeoutMs: 120_000,
  })
  const alive = () => {
    try {
      process.kill(server.pid, 0)
      return true
    } catch {
      return false
    }
  }
  return {
    endpoint: kafkaEndpoint(port),
    pid: server.pid,
    freeze: () => process.kill(server.pid, 'SIGSTOP'),
    thaw: () => process.kill(server.pid, 'SIGCONT'),
    async stop() {
      // A frozen server cannot be reaped until it runs again.
      if (alive()) {
        process.kill(server.pid, 'SIGCONT')
        process.kill(server.pid, 'SIGKILL')
      }
      for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50))
      rmSync(runDir, { recursive: true, force: true })
    },
  }
}
