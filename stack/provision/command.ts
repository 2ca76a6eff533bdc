import { spawn } from 'node:child_process'

export interface StreamedRun {
  readonly code: number | null
  /** The last lines of combined output, for error messages. */
  readonly tail: readonly string[]
}

/**
 * Runs a long provisioning command (mvn, go install, apt-get) and hands each output line to
 * `onLine`, so the caller can show progress while it runs.
 */
export function runStreaming(
  command: string,
  args: readonly string[],
  options: {
    readonly cwd?: string
    readonly env?: NodeJS.ProcessEnv
    readonly onLine?: (line: string) => void
  } = {},
): Promise<StreamedRun> {
  const tailLimit = 40
  return new Promise((resolveRun) => {
    const tail: string[] = []
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const pending = { stdout: '', stderr: '' }
    const take = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
      const lines = (pending[stream] + chunk.toString()).split('\n')
      pending[stream] = lines.pop() ?? ''
      for (const line of lines) emit(line)
    }
    const emit = (line: string) => {
      tail.push(line)
      if (tail.length > tailLimit) tail.shift()
      options.onLine?.(line)
    }
    child.stdout.on('data', (chunk: Buffer) => take('stdout', chunk))
    child.stderr.on('data', (chunk: Buffer) => take('stderr', chunk))
    child.on('error', (error) => {
      emit(error.message)
      resolveRun({ code: null, tail })
    })
    child.on('close', (code) => {
      for (const rest of [pending.stdout, pending.stderr]) if (rest !== '') emit(rest)
      resolveRun({ code, tail })
    })
  })
}
