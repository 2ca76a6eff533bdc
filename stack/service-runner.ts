/**
 * How `npm start` runs its services on ports that are this run's: each supervised service is
 * started with its reserved port in its port variable (stack/service-ports.ts); one that exits
 * with EADDRINUSE on that port is restarted at once on another reserved port (never again on
 * the lost one), and after MAX_PORT_MOVES `npm start` gives up, naming the port and its holder.
 * A service counts as up only when its own process listens on its port (stack/port-owner.ts):
 * another run's service answering 200 on the same port is not this run's.
 */
import type { ChildProcess } from 'node:child_process'
import { describeHolder, listensOn } from './port-owner.ts'
import { exitDecision, MAX_PORT_MOVES, type ServicePorts } from './service-ports.ts'
import type { RestartChoice, Supervised, Supervisor } from './supervisor.ts'

/** What is kept of a process's output for the EADDRINUSE check: its start-up, not its life. */
const OUTPUT_KEPT_CHARS = 64_000

export class ServicePortError extends Error {
  override readonly name = 'ServicePortError'
  readonly code = 'STACK_SERVICE_PORT_TAKEN'
}

export interface ServiceRunner {
  /**
   * Starts a service. With `portEnv`, its port (taken from `ports` beforehand) is put in that
   * variable of the environment `spawnWith` gets, at every start.
   */
  run(
    name: string,
    spawnWith: (env: NodeJS.ProcessEnv) => ChildProcess,
    options?: { readonly portEnv?: string; readonly supervised?: boolean },
  ): Supervised
  /** Every service started, in start order. */
  readonly services: readonly Supervised[]
  /** The service's port now. */
  port(name: string): number
  /**
   * Resolves once the service's current process listens on its port and /healthz answers (200
   * when `healthy`); follows it to a new port when it moves. Rejects when it exits otherwise, is
   * given up on, or `waitMs` passes.
   */
  untilUp(name: string, options: { readonly healthy: boolean; readonly waitMs: number }): Promise<void>
  /** Whether what listens on the service's port is its current process (or this machine cannot tell). */
  ownsPort(name: string): boolean
}

export function createServiceRunner(options: {
  readonly supervisor: Supervisor
  readonly ports: ServicePorts
  readonly log: (line: string) => void
  /** A service lost its port MAX_PORT_MOVES times: `npm start` should stop. */
  readonly onGiveUp: (name: string, error: ServicePortError) => void
  /** A service was moved to another port (the banner's URL for it changed). */
  readonly onMove?: (name: string, port: number) => void
  readonly pollMs?: number
}): ServiceRunner {
  const services: Supervised[] = []
  const portEnvs = new Map<string, string>()
  const moves = new Map<string, number>()
  const failures = new Map<string, ServicePortError>()
  const output = new WeakMap<ChildProcess, string>()
  /** Processes that exited because they lost their port: a new one is on its way. */
  const movedAway = new WeakSet<ChildProcess>()
  const pollMs = options.pollMs ?? 250

  const capture = (child: ChildProcess) => {
    output.set(child, '')
    const keep = (chunk: Buffer) => {
      const sofar = output.get(child) ?? ''
      if (sofar.length < OUTPUT_KEPT_CHARS) output.set(child, sofar + chunk.toString())
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
  }

  const onExit = async (name: string, child: ChildProcess): Promise<RestartChoice> => {
    const portEnv = portEnvs.get(name)
    if (portEnv === undefined) return 'backoff'
    const port = options.ports.port(name)
    const movesSoFar = moves.get(name) ?? 0
    // The exit event can come before the last output: wait for the streams to end.
    await Promise.all(
      [child.stdout, child.stderr].map((s) =>
        s === null || s.readableEnded || s.destroyed ? undefined : new Promise((r) => s.once('close', r)),
      ),
    )
    const decision = exitDecision(output.get(child) ?? '', port, movesSoFar)
    if (decision.kind === 'restart') return 'backoff'
    const holder = describeHolder(port)
    if (decision.kind === 'give-up') {
      const error = new ServicePortError(
        `${name} could not bind port ${port}: it is in use by ${holder}. ${name} lost its port ${movesSoFar + 1} times (each time a free, reserved one); stop what holds it, or the other npm start, and run again`,
      )
      failures.set(name, error)
      options.onGiveUp(name, error)
      return 'never'
    }
    moves.set(name, movesSoFar + 1)
    const next = await options.ports.move(name)
    movedAway.add(child)
    options.log(
      `[start] ${name}: port ${port} is in use by ${holder}; moving it to port ${next} (move ${movesSoFar + 1} of ${MAX_PORT_MOVES})`,
    )
    options.onMove?.(name, next)
    return 'now'
  }

  const runner: ServiceRunner = {
    services,
    run(name, spawnWith, { portEnv, supervised = true } = {}) {
      if (portEnv !== undefined) portEnvs.set(name, portEnv)
      const start = () => {
        const env: NodeJS.ProcessEnv =
          portEnv === undefined ? {} : { [portEnv]: String(options.ports.port(name)) }
        const child = spawnWith(env)
        capture(child)
        return child
      }
      const entry = supervised
        ? options.supervisor.supervise(name, start, { onExit: (child) => onExit(name, child) })
        : { name, child: start(), restarts: 0 }
      services.push(entry)
      return entry
    },
    port: (name) => options.ports.port(name),
    ownsPort(name) {
      const child = services.find((s) => s.name === name)?.child
      if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false
      return listensOn(child.pid, options.ports.port(name)) !== false
    },
    async untilUp(name, { healthy, waitMs }) {
      const started = Date.now()
      let reported = started
      let last = 'no answer yet'
      let unknownIdentityWarned = false
      for (;;) {
        const failure = failures.get(name)
        if (failure !== undefined) throw failure
        const child = services.find((s) => s.name === name)?.child
        if (child === undefined) throw new Error(`${name} was not started`)
        const exited = child.exitCode !== null || child.signalCode !== null
        if (exited && !movedAway.has(child))
          throw new Error(
            `${name} exited (${child.signalCode ?? child.exitCode}) before it was up; see its log`,
          )
        const port = options.ports.port(name)
        if (!exited && child.pid !== undefined) {
          try {
            const res = await fetch(`http://127.0.0.1:${port}/healthz`, {
              signal: AbortSignal.timeout(2_000),
            })
            const body = (await res.text()).slice(0, 300)
            const own = listensOn(child.pid, port)
            if (own === false) {
              last = `port ${port} is answered by ${describeHolder(port)}, not by ${name} (pid ${child.pid})`
            } else {
              if (own === undefined && !unknownIdentityWarned) {
                unknownIdentityWarned = true
                options.log(
                  `[start] warning: cannot tell which process listens on port ${port} (no /proc, no lsof); trusting it is ${name}`,
                )
              }
              if (!healthy || res.status === 200) return
              last = `${res.status} ${body}`
            }
          } catch (e) {
            last = (e as Error).message
          }
        }
        const now = Date.now()
        if (now - started > waitMs)
          throw new Error(`${name} not up after ${waitMs / 1000} s (port ${port}: ${last}); see its log`)
        if (now - reported >= 10_000) {
          reported = now
          options.log(
            `[start] waiting for ${name} on port ${port} (${Math.round((now - started) / 1000)} s; /healthz: ${last})`,
          )
        }
        await new Promise((r) => setTimeout(r, pollMs))
      }
    },
  }
  return runner
}
