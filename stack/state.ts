import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { z } from 'zod'
import { type Endpoints, endpointsToEnv } from '../runtime/endpoints.ts'
import { STACK_ERROR_CODES, StackError } from './errors.ts'
import { runPaths } from './paths.ts'
import { SERVER_NAMES } from './progress.ts'

export const STATE_FORMAT_VERSION = 1

const endpointsSchema = z.object({
  mqtt: z.object({
    url: z.string(),
    username: z.string().exactOptional(),
    password: z.string().exactOptional(),
  }),
  kafka: z.object({ brokers: z.array(z.string()).min(1) }),
  influx: z.object({ url: z.string(), token: z.string(), org: z.string(), bucket: z.string() }),
  chain: z.object({ rpcUrl: z.string(), chainId: z.number().int().positive() }),
})

const serverRecordSchema = z.object({
  name: z.enum(SERVER_NAMES),
  pid: z.number().int().positive(),
  port: z.number().int().min(1).max(65_535),
  extraPorts: z.record(z.string(), z.number().int()),
  version: z.string(),
  logFile: z.string(),
  startedAtIso: z.string(),
  marker: z.string(),
})

const stateSchema = z.object({
  formatVersion: z.literal(STATE_FORMAT_VERSION),
  runDir: z.string(),
  createdAtIso: z.string(),
  portMode: z.enum(['free', 'preferred']),
  endpoints: endpointsSchema,
  servers: z.array(serverRecordSchema),
})

export type ServerRecord = z.infer<typeof serverRecordSchema>
/** Endpoints typed as the rest of the code knows them (readonly), the rest as validated. */
export type StackState = Omit<z.infer<typeof stateSchema>, 'endpoints'> & { readonly endpoints: Endpoints }

/** Parses state.json text; throws STACK_STATE_INVALID with the path and what is wrong. */
export function parseState(text: string, file: string): StackState {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw invalid(file, 'it is not JSON', error)
  }
  const parsed = stateSchema.safeParse(json)
  if (!parsed.success) throw invalid(file, z.prettifyError(parsed.error), parsed.error)
  return parsed.data
}

function invalid(file: string, why: string, cause: unknown): StackError {
  return new StackError(STACK_ERROR_CODES.stateInvalid, `${file} is not a stack state file: ${why}`, {
    cause,
    metaMessages: [
      'Stop any servers it listed by hand (see the pids folder next to it), then delete the file and run `npm run stack -- up` again.',
    ],
  })
}

/** The state of the stack in `runDir`, or undefined when none was started there. */
export function readState(runDir: string): StackState | undefined {
  const { stateFile } = runPaths(runDir)
  if (!existsSync(stateFile)) return undefined
  return parseState(readFileSync(stateFile, 'utf8'), stateFile)
}

/** `KEY=VALUE` lines that `set -a; . stack.env` or `node --env-file` read. */
export function renderEnvFile(endpoints: Endpoints): string {
  const lines = Object.entries(endpointsToEnv(endpoints)).map(([key, value]) => `${key}=${value}`)
  return ['# Endpoints of the local stack, written by `npm run stack -- up`.', ...lines, ''].join('\n')
}

/** Writes state.json and stack.env, each through a rename so a reader never sees half a file. */
export function writeState(state: StackState): void {
  const paths = runPaths(state.runDir)
  writeAtomically(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`)
  writeAtomically(paths.envFile, renderEnvFile(state.endpoints))
}

function writeAtomically(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true })
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}
