import { type ChildProcess, spawn } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { STACK_ERROR_CODES, StackError } from './errors.ts'
import { acceptsConnections, LOOPBACK } from './ports.ts'

export interface SpawnServerOptions {
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  readonly logFile: string
  readonly pidFile: string
  readonly cwd: string
  readonly env?: NodeJS.ProcessEnv
}

export interface SpawnedServer {
  readonly pid: number
  readonly startedAtIso: string
  /** Set once the process has exited (only known to the process that spawned it). */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  readonly child: ChildProcess
}

let spawnsRefused = false

/**
 * After an interrupt, nothing new may start while the supervisor stops what did: the servers
 * are detached, so one spawned after the clean-up would be left running unrecorded.
 */
export function refuseNewSpawns(): void {
  spawnsRefused = true
}

/**
 * Starts a server in its own session (detached) with stdout and stderr appended to its log file,
 * so it outlives `stack up` and a terminal's Ctrl-C does not reach it.
 */
export function spawnServer(options: SpawnServerOptions): SpawnedServer {
  if (spawnsRefused) {
    throw new StackError(STACK_ERROR_CODES.startFailed, 'interrupted before it started', {
      server: options.name,
    })
  }
  mkdirSync(dirname(options.logFile), { recursive: true })
  mkdirSync(dirname(options.pidFile), { recursive: true })
  const logFd = openSync(options.logFile, 'a')
  const startedAtIso = new Date().toISOString()
  writeSync(logFd, `\n=== ${startedAtIso} starting ${options.command} ${options.args.join(' ')}\n`)
  let child: ChildProcess
  try {
    child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', logFd, logFd],
    })
  } finally {
    closeSync(logFd)
  }
  const pid = child.pid
  if (pid === undefined) {
    throw new StackError(STACK_ERROR_CODES.startFailed, `could not spawn ${options.command}`, {
      server: options.name,
      metaMessages: [`Check that ${options.command} exists and is executable.`],
    })
  }
  const spawned: { -readonly [K in keyof SpawnedServer]: SpawnedServer[K] } = {
    pid,
    startedAtIso,
    exit: undefined,
    child,
  }
  child.on('exit', (code, signal) => {
    spawned.exit = { code, signal }
  })
  // A spawn error (ENOENT) is reported through the exit record and the log tail, not thrown
  // from an event handler where nobody could catch it.
  child.on('error', () => {
    spawned.exit ??= { code: null, signal: null }
  })
  child.unref()
  writeFileSync(options.pidFile, `${pid}\n`)
  return spawned
}

/** Runs a short command to completion (formatting a log dir, reading a version) and returns its output. */
export function runToCompletion(
  command: string,
  args: readonly string[],
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number } = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 120_000,
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.on('error', (error) => resolveRun({ code: null, output: `${output}${error.message}` }))
    child.on('close', (code) => resolveRun({ code, output }))
  })
}

/** True while the pid runs and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  const stat = readProcFile(pid, 'stat')
  if (stat === undefined) return true
  // The state letter follows the command name, which is in parentheses and may contain spaces.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state !== 'Z' && state !== 'X'
}

function readProcFile(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * True when the pid still belongs to a process this stack started: its command line contains the
 * marker (the run directory, which every server gets in its arguments). Guards against pid reuse
 * after a reboot or a long time; without /proc (macOS) the pid is trusted.
 */
export function isOwnedProcess(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false
  if (!existsSync('/proc/self/cmdline')) return true
  return readProcFile(pid, 'cmdline')?.includes(marker) ?? false
}

export interface WaitForPortOptions {
  readonly name: string
  readonly port: number
  readonly timeoutMs: number
  readonly spawned: SpawnedServer
  readonly logFile: string
}

/** Waits until the port accepts connections; fails early when the process exits first. */
export async function waitForPort(options: WaitForPortOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  while (Date.now() < deadline) {
    if (options.spawned.exit !== undefined) {
      const { code, signal } = options.spawned.exit
      throw new StackError(
        STACK_ERROR_CODES.startFailed,
        `exited during start-up (code ${code}, signal ${signal})`,
        {
          server: options.name,
          metaMessages: [
            `Last lines of ${options.logFile}:`,
            ...(await tailFile(options.logFile, 15)).map((line) => `  ${line}`),
            'Fix the cause shown in the log; a port taken by another program shows as "address already in use".',
          ],
        },
      )
    }
    if (await acceptsConnections(options.port, LOOPBACK, 500)) return
    await sleep(150)
  }
  throw new StackError(
    STACK_ERROR_CODES.startFailed,
    `port ${options.port} did not open within ${options.timeoutMs} ms`,
    {
      server: options.name,
      metaMessages: [
        `Last lines of ${options.logFile}:`,
        ...(await tailFile(options.logFile, 15)).map((line) => `  ${line}`),
        'The machine may be overloaded; run `npm run stack -- up` again or look at the full log.',
      ],
    },
  )
}

export interface StopResult {
  readonly pid: number
  readonly outcome: 'stopped' | 'killed' | 'not-running' | 'not-ours'
}

/**
 * Stops one server and the process group it leads: SIGTERM, then SIGKILL after `graceMs`. Only
 * pids whose command line carries `marker` are signalled, so a stale pid file never kills a
 * stranger.
 */
export async function stopProcess(pid: number, marker: string, graceMs: number): Promise<StopResult> {
  if (!isAlive(pid)) return { pid, outcome: 'not-running' }
  if (!isOwnedProcess(pid, marker)) return { pid, outcome: 'not-ours' }
  signalGroup(pid, 'SIGTERM')
  if (await waitForExit(pid, graceMs)) return { pid, outcome: 'stopped' }
  signalGroup(pid, 'SIGKILL')
  if (await waitForExit(pid, 5_000)) return { pid, outcome: 'killed' }
  throw new StackError(STACK_ERROR_CODES.stopFailed, `pid ${pid} survived SIGKILL`, {
    metaMessages: [
      `Look at it with \`ps -o pid,stat,cmd -p ${pid}\`; a process in state D waits on the disk.`,
    ],
  })
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    // Negative pid: the whole group, so helpers (the npx wrapper around anvil) go too.
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // Already gone between the check and the signal.
    }
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true
    await sleep(100)
  }
  return !isAlive(pid)
}

export function removePidFile(pidFile: string): void {
  rmSync(pidFile, { force: true })
}

/** The last lines of a log file (reads at most the last 64 KiB); empty when there is no file. */
export async function tailFile(file: string, lines: number): Promise<string[]> {
  const maxBytes = 64 * 1024
  let handle: Awaited<ReturnType<typeof open>> | undefined
  try {
    handle = await open(file, 'r')
    const { size } = await handle.stat()
    const length = Math.min(size, maxBytes)
    const buffer = Buffer.alloc(length)
    await handle.read(buffer, 0, length, size - length)
    const all = buffer.toString('utf8').split('\n')
    if (all.at(-1) === '') all.pop()
    return all.slice(-lines)
  } catch {
    return []
  } finally {
    await handle?.close()
  }
}
