/**
 * Runs a service's main.ts as a real child process (so tests can SIGKILL it), with its
 * configuration in the environment and its logs kept for the failure message.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { nodeTsArgs } from '../../runtime/node-ts.ts'
import { ephemeralPort } from '../../stack/ports.ts'

const ROOT = join(import.meta.dirname, '..', '..')

export interface ServiceProcess {
  readonly child: ChildProcess
  readonly metricsPort: number
  readonly output: () => string
  waitHealthy(timeoutMs?: number): Promise<void>
  metric(name: string, labels?: Record<string, string>): Promise<number>
  kill(signal: NodeJS.Signals): Promise<number | null>
}

export async function startServiceProcess(
  entry: string,
  env: Record<string, string>,
  metricsPortVariable: string,
  /** Command-line arguments after the entry (`--retire`). */
  extraArgs: readonly string[] = [],
): Promise<ServiceProcess> {
  const metricsPort = await ephemeralPort()
  const { command, args } = nodeTsArgs(join(ROOT, entry))
  const child = spawn(command, [...args, ...extraArgs], {
    cwd: ROOT,
    env: { ...process.env, GRIDROOT_LOG_LEVEL: 'info', ...env, [metricsPortVariable]: String(metricsPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  // GRIDROOT_TEST_LOG_DIR=<dir> keeps every service's full output there, for debugging.
  const logDir = process.env.GRIDROOT_TEST_LOG_DIR
  const file = logDir
    ? createWriteStream(join(logDir, `${entry.replace(/\W+/g, '_')}-${Date.now()}.log`))
    : undefined
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000)
    file?.write(chunk)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const base = `http://127.0.0.1:${metricsPort}`
  return {
    child,
    metricsPort,
    output: () => log,
    // A deadline, not a measure: on a loaded 2-core machine a tsx service can take over a
    // minute from spawn to its first healthy answer (seen: ingest at load average 20).
    async waitHealthy(timeoutMs = 180_000) {
      const deadline = Date.now() + timeoutMs
      // The last answer, for the failure message: a 503 names the probe that failed and why.
      let last = 'no answer'
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}:\n${log}`)
        try {
          const response = await fetch(`${base}/healthz`)
          if (response.ok) return
          last = `${response.status} ${await response.text()}`
        } catch (error) {
          // not listening yet
          last = `no answer: ${error instanceof Error ? error.message : String(error)}`
        }
        await new Promise((r) => setTimeout(r, 200))
      }
      throw new Error(`${entry} did not become healthy in ${timeoutMs} ms (last /healthz: ${last}):\n${log}`)
    },
    async metric(name, labels = {}) {
      const text = await (await fetch(`${base}/metrics`)).text()
      const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue
        const [series, value] = line.split(' ')
        if (series === undefined || value === undefined) continue
        const bare = series === name
        if ((wanted.length === 0 && bare) || (wanted.length > 0 && wanted.every((w) => series.includes(w)))) {
          return Number(value)
        }
      }
      return Number.NaN
    },
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}
