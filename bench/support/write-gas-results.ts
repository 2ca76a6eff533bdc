import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BenchResult, RESULTS_DIR } from './results.ts'

/** Writes the figures of one name (one per size) to bench/results/<name>.json as an array. */
export function writeResults(results: readonly BenchResult[]): string {
  const name = results[0]?.name
  if (!name || results.some((r) => r.name !== name)) throw new Error('writeResults takes figures of one name')
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `${name}.json`)
  writeFileSync(file, `${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`)
  return file
}
