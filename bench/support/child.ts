/**
 * A TypeScript entry point run as a child process by `node --import tsx` (not the `tsx` binary,
 * which would put a second process between us and it): its pid is then the process that does
 * the work, whose CPU and memory /proc reports, and which SIGSTOP pauses.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { join, resolve } from 'node:path'

export const REPO_ROOT = join(import.meta.dirname, '..', '..')

export interface BenchChild {
  readonly child: ChildProcess
  readonly pid: number
  /** The last 20,000 characters of its stdout and stderr. */
  output(): string
  /** SIGSTOP: it keeps its connections but reads nothing until resumed. */
  pause(): void
  resume(): void
  readonly exited: Promise<number | null>
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>
}

export class ChildExitedError extends Error {
  override readonly name = 'ChildExitedError'
  constructor(what: string, code: number | null, output: string) {
    super(`${what} exited with code ${code}; its last output:\n${output.slice(-4000)}`)
  }
}

export function spawnTsChild(
  entry: string,
  options: {
    env: Record<string, string>
    ipc?: boolean
    nodeArgs?: readonly string[]
    /** Also append its output to this file. */
    logFile?: string
  },
): BenchChild {
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', resolve(REPO_ROOT, entry)],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: options.ipc === true ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    },
  )
  if (child.pid === undefined) throw new Error(`could not start ${entry}`)
  const pid = child.pid
  let log = ''
  const logFile =
    options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' })
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000)
    logFile?.write(chunk)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      logFile?.end()
      resolve(code)
    }),
  )
  const running = () => child.exitCode === null && child.signalCode === null
  return {
    child,
    pid,
    output: () => log,
    pause: () => {
      if (running()) child.kill('SIGSTOP')
    },
    resume: () => {
      if (running()) child.kill('SIGCONT')
    },
    exited,
    async stop(graceMs = 15_000) {
      if (!running()) return
      child.kill('SIGCONT')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
  }
}

/** Polls a service's /metrics until it answers (or it exits, or the time is up). */
export async function waitForMetrics<T>(
  child: BenchChild,
  what: string,
  read: () => Promise<T>,
  startTimeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + startTimeoutMs
  for (;;) {
    if (child.child.exitCode !== null) throw new ChildExitedError(what, child.child.exitCode, child.output())
    try {
      return await read()
    } catch {
      if (Date.now() > deadline) {
        await child.stop()
        throw new Error(`${what} did not serve /metrics within ${startTimeoutMs} ms:\n${child.output()}`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}
