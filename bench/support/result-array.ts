import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BenchResult, RESULTS_DIR } from './results.ts'

/** Writes several sizes of one figure as an array to `bench/results/<name>.json` (DESIGN.md). */
export function writeResultArray(name: string, results: readonly BenchResult[]): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `${name}.json`)
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  return file
}
