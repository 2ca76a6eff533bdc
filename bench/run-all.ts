/**
 * `npm run bench`: every `bench/*.bench.ts`, one after another (they would share the cores
 * otherwise), each in its own process. Exits non-zero if any of them failed.
 */
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const BENCH_DIR = import.meta.dirname

function runBench(file: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, file)], {
      cwd: join(BENCH_DIR, '..'),
      stdio: 'inherit',
    })
    // Ctrl-C reaches the child through the terminal; SIGTERM sent to this process is passed on.
    process.once('SIGTERM', () => child.kill('SIGTERM'))
    child.once('exit', (code, signal) => resolve(signal === null ? code : 128))
  })
}

const files = readdirSync(BENCH_DIR)
  .filter((name) => name.endsWith('.bench.ts'))
  .sort()
const failed: string[] = []
for (const file of files) {
  console.error(`\n=== ${file} ===`)
  const code = await runBench(file)
  if (code !== 0) failed.push(`${file} (exit ${code})`)
}
console.error(failed.length === 0 ? `\n${files.length} benchmark(s) done` : `\nfailed: ${failed.join(', ')}`)
process.exit(failed.length === 0 ? 0 : 1)
