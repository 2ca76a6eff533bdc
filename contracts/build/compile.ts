/**
 * Compiles the Solidity sources with npm `solc` (solc-js, standard JSON, optimizer on) and
 * caches the output by the hash of the exact compiler input, outside the repository
 * (`${GRIDROOT_CACHE_DIR:-~/.cache/gridroot}/solc/<sha256>.json`). A cold compile takes tens of
 * seconds on solc-js; a cached one is a file read. Bytecode is always built from the sources
 * here (never committed): the ABIs are committed (contracts/abi) because TypeScript needs them at
 * type-check time, and a test fails when they drift from what this function compiles.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, posix, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Abi, Hex } from 'viem'
import { GridrootError } from '../../core/errors/base.ts'

const CONTRACTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const REPO_ROOT = resolve(CONTRACTS_DIR, '..')
/** Folders of contracts/ whose .sol files are compiled: production sources and test doubles. */
const SOURCE_DIRS = ['src', 'testing'] as const

/** solc settings; part of the cache key. */
export const SOLC_SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 10_000 },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
} as const

export interface CompiledContract {
  readonly abi: Abi
  readonly bytecode: Hex
  readonly deployedBytecode: Hex
  /** Source unit, e.g. `contracts/src/RevenueOracle.sol`. */
  readonly source: string
}

export interface CompileOutput {
  readonly solcVersion: string
  /** sha-256 of the compiler input: same sources and settings, same hash, same bytecode. */
  readonly inputHash: string
  readonly contracts: Readonly<Record<string, CompiledContract>>
}

export interface CompileOptions {
  /** Cache folder; the caller reads GRIDROOT_CACHE_DIR. Default `~/.cache/gridroot/solc`. */
  readonly cacheDir?: string
}

export class SolidityCompileError extends GridrootError<'SOLIDITY_COMPILE_FAILED'> {
  override readonly name = 'SolidityCompileError'
  constructor(messages: readonly string[]) {
    super('SOLIDITY_COMPILE_FAILED', 'the Solidity sources do not compile', {
      metaMessages: [...messages.slice(0, 10), 'Fix the sources under contracts/src or contracts/testing.'],
    })
  }
}

const IMPORT = /^\s*import\s+(?:[^'"]*from\s+)?["']([^"']+)["']/gm

function listSolidity(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return listSolidity(path)
    return entry.name.endsWith('.sol') ? [path] : []
  })
}

/** Source unit name → file path: relative names for ours, `@openzeppelin/...` for libraries. */
function resolveImport(fromUnit: string, spec: string): string {
  if (spec.startsWith('.')) return posix.normalize(posix.join(posix.dirname(fromUnit), spec))
  return spec
}

function unitPath(unit: string): string {
  return unit.startsWith('@') ? createRequire(import.meta.url).resolve(unit) : join(REPO_ROOT, unit)
}

/** The standard-JSON sources: every .sol of ours and everything they import, transitively. */
export function collectSources(): Record<string, { content: string }> {
  const sources: Record<string, { content: string }> = {}
  const pending = SOURCE_DIRS.flatMap((d) => listSolidity(join(CONTRACTS_DIR, d))).map((path) =>
    relative(REPO_ROOT, path).split('\\').join('/'),
  )
  pending.sort()
  while (pending.length > 0) {
    const unit = pending.shift() as string
    if (sources[unit]) continue
    const content = readFileSync(unitPath(unit), 'utf8')
    sources[unit] = { content }
    for (const match of content.matchAll(IMPORT)) {
      const imported = resolveImport(unit, match[1] as string)
      if (!sources[imported]) pending.push(imported)
    }
  }
  return Object.fromEntries(Object.entries(sources).sort(([a], [b]) => (a < b ? -1 : 1)))
}

function defaultCacheDir(): string {
  const root = process.env.GRIDROOT_CACHE_DIR
  return join(
    root !== undefined && root !== ''
      ? resolve(root)
      : join(process.env.HOME ?? '/tmp', '.cache', 'gridroot'),
    'solc',
  )
}

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[]
  contracts?: Record<
    string,
    Record<string, { abi: Abi; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>
  >
}

/**
 * Compiles every contract under contracts/src and contracts/testing, from the cache when the
 * same input was compiled before.
 *
 * @example
 * const { contracts } = compileContracts()
 * const { abi, bytecode } = contracts.RevenueOracle!
 */
export function compileContracts(options: CompileOptions = {}): CompileOutput {
  const require = createRequire(import.meta.url)
  const solc = require('solc') as { version(): string; compile(input: string): string }
  const solcVersion = solc.version()
  const input = JSON.stringify({ language: 'Solidity', sources: collectSources(), settings: SOLC_SETTINGS })
  const inputHash = createHash('sha256').update(solcVersion).update('\n').update(input).digest('hex')
  const cacheDir = options.cacheDir ?? defaultCacheDir()
  const cacheFile = join(cacheDir, `${inputHash}.json`)
  if (existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, 'utf8')) as CompileOutput

  const output = JSON.parse(solc.compile(input)) as SolcOutput
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error').map((e) => e.formattedMessage)
  if (errors.length > 0) throw new SolidityCompileError(errors)
  const contracts: Record<string, CompiledContract> = {}
  for (const [source, units] of Object.entries(output.contracts ?? {})) {
    if (source.startsWith('@')) continue
    for (const [name, unit] of Object.entries(units)) {
      if (contracts[name]) throw new SolidityCompileError([`two contracts are named ${name}`])
      contracts[name] = {
        abi: unit.abi,
        bytecode: `0x${unit.evm.bytecode.object}`,
        deployedBytecode: `0x${unit.evm.deployedBytecode.object}`,
        source,
      }
    }
  }
  const result: CompileOutput = { solcVersion, inputHash, contracts }
  mkdirSync(cacheDir, { recursive: true })
  const temporary = `${cacheFile}.${process.pid}.tmp`
  writeFileSync(temporary, JSON.stringify(result))
  renameSync(temporary, cacheFile)
  return result
}

/** The compiled contract `name`, or an error naming what exists. */
export function compiledContract(output: CompileOutput, name: string): CompiledContract {
  const found = output.contracts[name]
  if (!found)
    throw new SolidityCompileError([`no contract ${name}; have ${Object.keys(output.contracts).join(', ')}`])
  return found
}
