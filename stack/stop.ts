import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { acquireRunDirLock } from './lock.ts'
import { runPaths } from './paths.ts'
import { removePidFile, type StopResult, stopProcess } from './process.ts'
import { type OnProgress, reporter, SERVER_NAMES, type ServerName } from './progress.ts'
import { STOP_GRACE_MS } from './servers/types.ts'
import { readState } from './state.ts'

export interface StopTarget {
  readonly name: ServerName
  readonly pid: number
}

export interface ServerStopResult extends StopResult {
  readonly name: ServerName
}

/**
 * The identity check for pids of this run folder: every server has a file below it in its
 * command line. The trailing slash keeps `.run/default` from matching `.run/default2`.
 */
export function runDirMarker(runDir: string): string {
  return `${runDir.replace(/\/+$/, '')}/`
}

/** Stops the given servers concurrently (Kafka's shutdown takes the longest) and removes their pid files. */
export async function stopServers(
  runDir: string,
  targets: readonly StopTarget[],
  onProgress?: OnProgress,
): Promise<ServerStopResult[]> {
  const paths = runPaths(runDir)
  return Promise.all(
    targets.map(async (target) => {
      const report = reporter(target.name, onProgress)
      const result = await stopProcess(target.pid, runDirMarker(runDir), STOP_GRACE_MS[target.name])
      if (result.outcome === 'not-ours') {
        report('stop', `pid ${target.pid} now belongs to another program; left alone`, { level: 'warn' })
      } else if (result.outcome !== 'not-running') {
        report(
          'stop',
          `stopped pid ${target.pid}${result.outcome === 'killed' ? ' (SIGKILL after the grace period)' : ''}`,
        )
      }
      removePidFile(paths.pidFile(target.name))
      return { name: target.name, ...result }
    }),
  )
}

/** The servers recorded for a run folder: state.json, or the pid files when start-up was interrupted. */
export function recordedTargets(runDir: string): StopTarget[] {
  const state = readState(runDir)
  if (state !== undefined) return state.servers.map((server) => ({ name: server.name, pid: server.pid }))
  const { pidsDir, pidFile } = runPaths(runDir)
  if (!existsSync(pidsDir)) return []
  const files = new Set(readdirSync(pidsDir))
  return SERVER_NAMES.filter((name) => files.has(`${name}.pid`)).flatMap((name) => {
    const pid = Number.parseInt(readFileSync(pidFile(name), 'utf8'), 10)
    return Number.isInteger(pid) && pid > 0 ? [{ name, pid }] : []
  })
}

/**
 * `stack down`: stops exactly the processes recorded for the run folder, then removes
 * state.json and stack.env (their endpoints no longer answer). Data and logs stay.
 */
export async function stopStack(runDir: string, options: { readonly onProgress?: OnProgress } = {}) {
  const release = acquireRunDirLock(runDir)
  try {
    const results = await stopServers(runDir, recordedTargets(runDir), options.onProgress)
    removeStateFiles(runDir)
    return results
  } finally {
    release()
  }
}

export function removeStateFiles(runDir: string): void {
  const paths = runPaths(runDir)
  rmSync(paths.stateFile, { force: true })
  rmSync(paths.envFile, { force: true })
  if (existsSync(paths.pidsDir) && readdirSync(paths.pidsDir).length === 0)
    rmSync(join(paths.pidsDir), { recursive: true })
}
