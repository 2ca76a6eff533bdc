/**
 * A Kafka and a Mosquitto of a test's own (the real servers, started by the stack's own code on
 * free ports), which the test may stop and start again on the same ports and data: never the
 * shared ones (HELPERS.md).
 */
import { mkdirSync, rmSync } from 'node:fs'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { createPortAllocator } from '../../stack/ports.ts'
import { reporter } from '../../stack/progress.ts'
import { kafkaEndpoint, startKafka } from '../../stack/servers/kafka.ts'
import { mosquittoEndpoint, startMosquitto } from '../../stack/servers/mosquitto.ts'
import type { ServerStartContext, StartedServer } from '../../stack/servers/types.ts'

export interface DedicatedServer<E> {
  readonly endpoint: E
  /** SIGTERM (an orderly stop: Kafka's controlled shutdown, Mosquitto saving its sessions). */
  stop(): Promise<void>
  start(): Promise<void>
  /** Stops it and removes its data. */
  close(): Promise<void>
}

async function dedicated<E>(
  runDir: string,
  extra: readonly string[],
  starter: (ctx: ServerStartContext) => Promise<StartedServer>,
  endpointOf: (port: number) => E,
  name: 'kafka' | 'mosquitto',
): Promise<DedicatedServer<E>> {
  mkdirSync(runDir, { recursive: true })
  // Distinct: two kernel-free ports asked for one after the other can be the same one (CI: Kafka
  // refused a broker and controller listener on one port).
  const ports = createPortAllocator('free')
  const port = await ports.take()
  const extraPorts: Record<string, number> = {}
  for (const key of extra) extraPorts[key] = await ports.take()
  let server: StartedServer | undefined
  const start = async () => {
    server = await starter({
      runDir,
      report: reporter(name, undefined),
      port,
      extraPorts,
      startTimeoutMs: 90_000,
    })
  }
  const stop = async () => {
    const current = server
    if (!current) return
    server = undefined
    process.kill(current.pid, 'SIGTERM')
    for (let i = 0; i < 1200; i++) {
      try {
        process.kill(current.pid, 0)
      } catch {
        return
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    process.kill(current.pid, 'SIGKILL')
  }
  await start()
  return {
    endpoint: endpointOf(port),
    start,
    stop,
    async close() {
      await stop()
      rmSync(runDir, { recursive: true, force: true })
    },
  }
}

export const startDedicatedKafka = (runDir: string): Promise<DedicatedServer<Endpoints['kafka']>> =>
  dedicated(runDir, ['controller'], startKafka, kafkaEndpoint, 'kafka')

export const startDedicatedMosquitto = (runDir: string): Promise<DedicatedServer<Endpoints['mqtt']>> =>
  dedicated(runDir, [], startMosquitto, mosquittoEndpoint, 'mosquitto')
