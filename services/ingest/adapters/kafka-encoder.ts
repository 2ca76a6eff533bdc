/**
 * kafkajs's protocol Encoder allocates each buffer it writes into with `Buffer.alloc`, which
 * zero-fills and never comes from Node's pool: one 512-byte buffer per record, header and batch,
 * and again each time one grows. In ingest's batched profile (issue 8) that was ~7 % of the main
 * thread in `FastBuffer` plus its share of garbage collection. An Encoder only ever exposes the
 * bytes it wrote (`buffer` is `buf.slice(0, offset)`, every write advances `offset` over what it
 * wrote), so the unwritten tail need not be zeroed: this module compiles kafkajs's encoder.js with
 * `Buffer.allocUnsafe` (pooled below 4 KiB) into the module cache before kafkajs loads it.
 * It changes nothing when the file is not the one expected (another kafkajs) or kafkajs is
 * already loaded. Like ./kafka-crc32c.ts, imported first by services/ingest/service.ts.
 */
import { readFileSync } from 'node:fs'
import { createRequire, Module } from 'node:module'
import { dirname } from 'node:path'

const KAFKAJS_ENCODER = 'kafkajs/src/protocol/encoder.js'
const EXPECTED = [
  'this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))',
  'const newBuffer = Buffer.alloc(newLength)',
] as const

/** Whether kafkajs's Encoder allocates with `Buffer.allocUnsafe`. */
export const KAFKAJS_ENCODER_UNZEROED = (() => {
  const require = createRequire(import.meta.url)
  try {
    const path = require.resolve(KAFKAJS_ENCODER)
    if (require.cache[path]) return false
    const source = readFileSync(path, 'utf8')
    if ((source.match(/Buffer\.alloc\(/g) ?? []).length !== EXPECTED.length) return false
    if (!EXPECTED.every((line) => source.includes(line))) return false
    const patched = source.replaceAll('Buffer.alloc(', 'Buffer.allocUnsafe(')
    type CompilableModule = Module & { _compile(code: string, filename: string): void; loaded: boolean }
    const mod = new Module(path) as CompilableModule
    mod.filename = path
    mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(
      dirname(path),
    )
    mod._compile(patched, path)
    mod.loaded = true
    require.cache[path] = mod
    return true
  } catch {
    return false
  }
})()
