import { existsSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { GridrootError } from '../core/errors/base.ts'
import { STACK_ERROR_CODES, StackError } from './errors.ts'
import { checkServers, DEFAULT_RUN_DIR, readState, type StackHandle, startStack, stopStack } from './index.ts'
import { runPaths } from './paths.ts'
import type { PortMode } from './ports.ts'
import { isAlive, refuseNewSpawns, tailFile } from './process.ts'
import { formatProgress, type OnProgress, SERVER_NAMES, type ServerName } from './progress.ts'
import { recordedTargets, stopServers } from './stop.ts'

const HELP = `Usage: npm run stack -- <command> [options]

Runs the local servers of gridroot (Mosquitto, Kafka, InfluxDB, anvil) as real processes,
downloading or building them into ~/.cache/gridroot on first use.

Commands:
  up            Start the stack detached (or reuse it when it is already healthy) and print its endpoints
  up --foreground
                Stay attached; Ctrl-C or SIGTERM stops what this command started
  down          Stop exactly the processes recorded for the run folder
  status        Show each server: up/down, port, pid and a round-trip probe
  logs [server] Print the end of each server's log (server: ${SERVER_NAMES.join(', ')})

Options:
  --run-dir <dir>   Run folder (default .run/default); configs, data, logs, state.json, stack.env
  --ports <mode>    preferred (default: 1883, 9092, 8086, 8545 when free) or free
  --fresh           up: do not reuse a running stack; stop it and start a new one
  --lines <n>       logs: how many lines per server (default 20)
  --json            Machine-readable output (progress as JSON lines on stderr)
  -h, --help        This help

Exit codes: 0 success, 1 failure (or status: not all healthy), 2 wrong usage.`

/** `npm run` changes to the package root; paths the person typed are relative to where they were. */
const INVOKED_FROM = process.env.INIT_CWD ?? process.cwd()

interface CliOptions {
  readonly runDir: string
  readonly ports: PortMode
  readonly foreground: boolean
  readonly fresh: boolean
  readonly lines: number
  readonly json: boolean
}

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      'run-dir': { type: 'string' },
      ports: { type: 'string' },
      foreground: { type: 'boolean', default: false },
      fresh: { type: 'boolean', default: false },
      lines: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const [command, ...rest] = positionals
  if (values.help || command === undefined || command === 'help') {
    console.log(HELP)
    return command === undefined && !values.help ? 2 : 0
  }
  const ports = values.ports ?? 'preferred'
  if (ports !== 'preferred' && ports !== 'free')
    throw usage(`--ports must be preferred or free, not ${ports}`)
  const lines = values.lines === undefined ? 20 : Number.parseInt(values.lines, 10)
  if (!Number.isInteger(lines) || lines <= 0)
    throw usage(`--lines must be a positive whole number, not ${values.lines}`)
  const options: CliOptions = {
    runDir: resolve(INVOKED_FROM, values['run-dir'] ?? DEFAULT_RUN_DIR),
    ports,
    foreground: values.foreground,
    fresh: values.fresh,
    lines,
    json: values.json,
  }
  switch (command) {
    case 'up':
      return up(options)
    case 'down':
      return down(options)
    case 'status':
      return status(options)
    case 'logs':
      return logs(options, rest[0])
    default:
      throw usage(`unknown command ${command}`)
  }
}

function progressPrinter(json: boolean): OnProgress {
  return (event) => console.error(json ? JSON.stringify(event) : formatProgress(event))
}

async function up(options: CliOptions): Promise<number> {
  const onProgress = progressPrinter(options.json)
  // The servers are detached and ignore the terminal's Ctrl-C: stop what this start-up spawned.
  const abortStartup = () => {
    refuseNewSpawns()
    console.error('[stack] interrupted; stopping what was started')
    void stopServers(options.runDir, recordedTargets(options.runDir), onProgress).finally(() =>
      process.exit(130),
    )
  }
  process.once('SIGINT', abortStartup)
  process.once('SIGTERM', abortStartup)
  const handle = await startStack({
    runDir: options.runDir,
    ports: options.ports,
    onProgress,
    reuse: !options.fresh,
  })
  process.off('SIGINT', abortStartup)
  process.off('SIGTERM', abortStartup)
  printHandle(handle, options)
  if (!options.foreground) return 0
  return stayAttached(handle, onProgress)
}

/** Paths below where the person is are shown relative to it, others in full. */
function show(path: string): string {
  const fromHere = relative(INVOKED_FROM, path)
  return fromHere === '' || fromHere.startsWith('..') ? path : fromHere
}

function printHandle(handle: StackHandle, options: CliOptions): void {
  const envFile = runPaths(handle.runDir).envFile
  if (options.json) {
    console.log(
      JSON.stringify({
        runDir: handle.runDir,
        envFile,
        endpoints: handle.endpoints,
        servers: handle.servers,
      }),
    )
    return
  }
  for (const server of handle.servers) {
    console.log(
      `${server.name.padEnd(10)} ${server.version.padEnd(8)} ${server.url.padEnd(26)} pid ${String(server.pid).padEnd(8)} log ${show(server.logFile)}`,
    )
  }
  console.log(`endpoints: ${show(envFile)}  (load with: set -a; . ${show(envFile)}; set +a)`)
  const down =
    options.runDir === DEFAULT_RUN_DIR
      ? 'npm run stack -- down'
      : `npm run stack -- down --run-dir ${show(handle.runDir)}`
  if (!handle.startedHere) console.log(`reused the running stack; stop with: ${down}`)
  else if (!options.foreground) console.log(`stop with: ${down}`)
}

/** `up --foreground`: watch the servers and stop them on Ctrl-C, SIGTERM or when one of them dies. */
function stayAttached(handle: StackHandle, onProgress: OnProgress): Promise<number> {
  if (!handle.startedHere)
    console.error('[stack] this stack was started elsewhere; Ctrl-C detaches without stopping it')
  console.error('[stack] running in the foreground; Ctrl-C stops it')
  return new Promise((resolveExit) => {
    let stopping = false
    const finish = async (code: number) => {
      if (stopping) return
      stopping = true
      clearInterval(watch)
      await handle.stop()
      resolveExit(code)
    }
    const watch = setInterval(async () => {
      const dead = handle.servers.find((server) => !isAlive(server.pid))
      if (dead === undefined || stopping) return
      const tail = await tailFile(dead.logFile, 15)
      onProgress({
        source: dead.name,
        phase: 'stop',
        level: 'warn',
        msg: `exited unexpectedly; stopping the others. Last lines of ${dead.logFile}:\n${tail.join('\n')}`,
        timeIso: new Date().toISOString(),
      })
      await finish(1)
    }, 2_000)
    process.once('SIGINT', () => void finish(0))
    process.once('SIGTERM', () => void finish(0))
  })
}

async function down(options: CliOptions): Promise<number> {
  if (recordedTargets(options.runDir).length === 0) {
    console.log(`no stack recorded in ${options.runDir}; nothing to stop`)
    return 0
  }
  const results = await stopStack(options.runDir, { onProgress: progressPrinter(options.json) })
  if (options.json) console.log(JSON.stringify(results))
  else
    for (const result of results)
      console.log(`${result.name.padEnd(10)} pid ${String(result.pid).padEnd(8)} ${result.outcome}`)
  return 0
}

async function status(options: CliOptions): Promise<number> {
  const state = readState(options.runDir)
  if (state === undefined) {
    if (options.json) console.log(JSON.stringify({ runDir: options.runDir, running: false, servers: [] }))
    else console.log(`no stack in ${options.runDir} (start one with: npm run stack -- up)`)
    return 1
  }
  const statuses = await checkServers(state)
  if (options.json) {
    console.log(JSON.stringify({ runDir: options.runDir, endpoints: state.endpoints, servers: statuses }))
  } else {
    for (const server of statuses) {
      const probe = server.probe.ok
        ? `probe ok (${server.probe.latencyMs} ms)`
        : 'error' in server.probe
          ? `probe FAILED: ${server.probe.error}`
          : 'probe skipped'
      console.log(
        `${server.name.padEnd(10)} ${(server.running ? 'up' : 'down').padEnd(5)} port ${String(server.port ?? '-').padEnd(6)} pid ${String(server.pid ?? '-').padEnd(8)} ${probe}`,
      )
    }
  }
  return statuses.every((server) => server.running && server.probe.ok) ? 0 : 1
}

async function logs(options: CliOptions, server: string | undefined): Promise<number> {
  if (server !== undefined && !isServerName(server))
    throw usage(`unknown server ${server}; one of ${SERVER_NAMES.join(', ')}`)
  const paths = runPaths(options.runDir)
  const names = server === undefined ? SERVER_NAMES : [server]
  let found = 0
  for (const name of names) {
    const file = paths.logFile(name)
    if (!existsSync(file)) continue
    found++
    console.log(`==> ${show(file)} <==`)
    for (const line of await tailFile(file, options.lines)) console.log(line)
  }
  if (found === 0) console.log(`no logs in ${paths.logsDir} yet`)
  return found === 0 ? 1 : 0
}

function isServerName(name: string): name is ServerName {
  return (SERVER_NAMES as readonly string[]).includes(name)
}

function usage(message: string): StackError {
  return new StackError(STACK_ERROR_CODES.usage, message, {
    metaMessages: ['See `npm run stack -- --help`.'],
  })
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof GridrootError) {
      console.error(`[stack] error ${error.message}`)
      process.exit(error.code === STACK_ERROR_CODES.usage ? 2 : 1)
    }
    if (error instanceof Error && 'code' in error && error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(
        `[stack] error [${STACK_ERROR_CODES.usage}] ${error.message}\nSee \`npm run stack -- --help\`.`,
      )
      process.exit(2)
    }
    console.error('[stack] unexpected error (a bug in stack/; please report it with this output):', error)
    process.exit(1)
  },
)
