import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root, found from this file so that the CLI works from any working directory. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** Where `stack up` keeps its servers' configs, data and logs unless told otherwise. */
export const DEFAULT_RUN_DIR = join(REPO_ROOT, '.run', 'default')

/**
 * Downloads and builds live outside the repository so that clones and CI runs share them; each
 * entry is keyed by version (`kafka-3.9.1`, `influxdb-1.8.10`).
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.GRIDROOT_CACHE_DIR
  return fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : join(homedir(), '.cache', 'gridroot')
}

/** The fixed layout of a run directory; everything a stack writes is below it. */
export function runPaths(runDir: string) {
  return {
    runDir,
    stateFile: join(runDir, 'state.json'),
    envFile: join(runDir, 'stack.env'),
    lockFile: join(runDir, '.lock'),
    logsDir: join(runDir, 'logs'),
    pidsDir: join(runDir, 'pids'),
    logFile: (name: string) => join(runDir, 'logs', `${name}.log`),
    pidFile: (name: string) => join(runDir, 'pids', `${name}.pid`),
    serverDir: (name: string) => join(runDir, name),
  }
}
