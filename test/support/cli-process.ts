/**
 * Runs a command-line entry point (e.g. services/distributor/claim-cli.ts) as a real process to
 * completion, with its configuration in the environment, and returns its exit code and output.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { nodeTsArgs } from '../../runtime/node-ts.ts'

const ROOT = join(import.meta.dirname, '..', '..')

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export function runCli(
  entry: string,
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
): Promise<CliRun> {
  const { command, args: nodeArgs } = nodeTsArgs(join(ROOT, entry))
  const child = spawn(command, [...nodeArgs, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  // A hung CLI fails the test with what it printed instead of holding it to the test's timeout.
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
