import { createConnection, createServer } from 'node:net'

/**
 * 'preferred' uses the well-known ports when they are free (a developer's tools find the stack
 * where they expect it); 'free' always takes ports the kernel hands out, so that tests and CI
 * never collide with a stack that is already running.
 */
export type PortMode = 'free' | 'preferred'

export const PREFERRED_PORTS = {
  mosquitto: 1883,
  kafka: 9092,
  kafkaController: 9093,
  influxdb: 8086,
  anvil: 8545,
} as const

export const LOOPBACK = '127.0.0.1'

/** True when nothing accepts connections on the port and this process can bind it. */
export async function isPortFree(port: number, host: string = LOOPBACK): Promise<boolean> {
  if (await acceptsConnections(port, host, 300)) return false
  return new Promise((resolveFree) => {
    const server = createServer()
    server.once('error', () => resolveFree(false))
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolveFree(true)))
  })
}

/** A port the kernel considers free right now (bind to 0, read it back, release it). */
export async function ephemeralPort(host: string = LOOPBACK): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error('no port from the kernel'))))
    })
  })
}

export function acceptsConnections(port: number, host: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = createConnection({ port, host })
    const done = (open: boolean) => {
      socket.destroy()
      resolveOpen(open)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

export interface PortProbe {
  readonly isFree: (port: number) => Promise<boolean>
  readonly ephemeral: () => Promise<number>
}

const systemProbe: PortProbe = { isFree: (port) => isPortFree(port), ephemeral: () => ephemeralPort() }

/**
 * Hands out distinct ports for one stack. Ports are only released to the kernel between here and
 * the server binding them; the window is short and a server that loses the race fails its
 * start-up with a clear message.
 */
export function createPortAllocator(mode: PortMode, probe: PortProbe = systemProbe) {
  const taken = new Set<number>()
  const ephemeralAttempts = 20

  async function ephemeralDistinct(): Promise<number> {
    for (let attempt = 0; attempt < ephemeralAttempts; attempt++) {
      const port = await probe.ephemeral()
      if (!taken.has(port)) return port
    }
    throw new Error(`the kernel kept handing out ports already taken by this stack: ${[...taken].join(', ')}`)
  }

  return {
    /** A preferred port when the mode and the machine allow it, else a free one. */
    async take(preferred?: number): Promise<number> {
      let port: number
      if (
        mode === 'preferred' &&
        preferred !== undefined &&
        !taken.has(preferred) &&
        (await probe.isFree(preferred))
      ) {
        port = preferred
      } else {
        port = await ephemeralDistinct()
      }
      taken.add(port)
      return port
    },
  }
}
