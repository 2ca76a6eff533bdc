import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { STACK_ERROR_CODES, StackError } from '../errors.ts'
import type { Report } from '../progress.ts'
import { runStreaming } from './command.ts'

export interface ToolSpec {
  /** Executable name looked up in PATH (and in /usr/sbin, which is not in every user's PATH). */
  readonly binary: string
  /** The Debian package that provides it. */
  readonly aptPackage: string
  /** Which server needs it, for the messages. */
  readonly neededFor: string
}

const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/go/bin']

export function findExecutable(binary: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter((dir) => dir !== ''), ...EXTRA_DIRS]
  for (const dir of dirs) {
    const candidate = join(dir, binary)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not in this directory.
    }
  }
  return undefined
}

// apt holds one dpkg lock: installs from servers provisioned concurrently take turns.
let aptQueue: Promise<unknown> = Promise.resolve()
let aptUpdated = false

/**
 * The path of a tool, installing its Debian package when it is missing and this process is
 * root. Without root it stops with the command to run.
 */
export async function ensureTool(spec: ToolSpec, report: Report): Promise<string> {
  const found = findExecutable(spec.binary)
  if (found !== undefined) return found
  const install = `apt-get update && apt-get install -y ${spec.aptPackage}`
  if (process.getuid?.() !== 0 || findExecutable('apt-get') === undefined) {
    throw new StackError(
      STACK_ERROR_CODES.toolMissing,
      `${spec.binary} is not installed (needed for ${spec.neededFor})`,
      {
        metaMessages: [`Install it as root: sudo sh -c '${install}'`, 'Then run the command again.'],
      },
    )
  }
  const run = aptQueue.then(() => aptInstall(spec, report))
  aptQueue = run.catch(() => undefined)
  await run
  const installed = findExecutable(spec.binary)
  if (installed === undefined) {
    throw new StackError(
      STACK_ERROR_CODES.toolMissing,
      `apt-get installed ${spec.aptPackage} but ${spec.binary} is not on PATH`,
      {
        metaMessages: [`Check \`dpkg -L ${spec.aptPackage}\` and add its bin directory to PATH.`],
      },
    )
  }
  return installed
}

async function aptInstall(spec: ToolSpec, report: Report): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  if (!aptUpdated) {
    report('provision', 'apt-get update (first run only)')
    const update = await runStreaming('apt-get', ['update'], { env })
    if (update.code !== 0) throw aptError('apt-get update', update.tail)
    aptUpdated = true
  }
  report('provision', `apt-get install -y ${spec.aptPackage} (first run only, needed for ${spec.neededFor})`)
  const install = await runStreaming(
    'apt-get',
    ['install', '-y', '--no-install-recommends', spec.aptPackage],
    { env },
  )
  if (install.code !== 0) throw aptError(`apt-get install -y ${spec.aptPackage}`, install.tail)
}

function aptError(step: string, tail: readonly string[]): StackError {
  return new StackError(STACK_ERROR_CODES.provisionFailed, `${step} failed`, {
    metaMessages: [
      ...tail.slice(-10).map((line) => `  ${line}`),
      'Check that the Debian mirror is reachable.',
    ],
  })
}
