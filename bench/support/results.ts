/**
 * The result of one benchmark figure as DESIGN.md ("Benchmarks") fixes it, written to
 * `bench/results/<name>.json` and printed as a table. Ratios are what count: the machines are
 * shared and noisy, so the baseline is measured in the same run.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface BenchResult {
  readonly name: string
  /** What is measured. */
  readonly subject: string
  /** What it is compared against, measured in the same run on the same machine. */
  readonly baseline: string
  readonly unit: string
  readonly value: number
  readonly baselineValue: number
  /** value / baselineValue. */
  readonly ratio: number
  readonly params: Record<string, unknown>
  /** ISO time at which the figure was measured. */
  readonly when: string
}

export const RESULTS_DIR = join(import.meta.dirname, '..', 'results')

export function benchResult(fields: Omit<BenchResult, 'ratio' | 'when'>): BenchResult {
  return {
    ...fields,
    ratio: fields.baselineValue > 0 ? fields.value / fields.baselineValue : Number.NaN,
    when: new Date().toISOString(),
  }
}

export function writeResult(result: BenchResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `${result.name}.json`)
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
  return file
}

export function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const round = (value: number, digits: number) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits }) : String(value)

/** The headline columns of each result, one row per figure. */
export function formatResults(results: readonly BenchResult[]): string {
  const rows = [
    ['name', 'subject', 'value', 'baseline', 'baselineValue', 'ratio', 'unit'],
    ...results.map((r) => [
      r.name,
      r.subject,
      round(r.value, 0),
      r.baseline,
      round(r.baselineValue, 0),
      round(r.ratio, 3),
      r.unit,
    ]),
  ]
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? []
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ')).join('\n')
}
