import type { BenchChild } from './child.ts'

/** Progress lines on stderr, so a long benchmark shows it is moving and stdout keeps the table. */
const startedMs = performance.now()

export function progress(message: string): void {
  const seconds = ((performance.now() - startedMs) / 1000).toFixed(1).padStart(6)
  console.error(`[bench ${seconds}s] ${message}`)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Everything a benchmark must stop on the way out, whichever way that is (stack, clients). */
export const cleanups: (() => Promise<void>)[] = []
/** Child processes of the benchmark still running: stopped first. */
export const running = new Set<BenchChild>()

async function cleanUp(): Promise<void> {
  for (const child of running) await child.stop(5_000).catch(() => undefined)
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((error: unknown) => progress(`clean-up failed: ${String(error)}`))
  }
}

/**
 * Runs a benchmark's `main` under a deadline, with Ctrl-C handling, and always runs the
 * clean-ups (which stop the stack) before the process exits.
 */
export function runBench(main: () => Promise<void>, deadlineMs: number): void {
  const deadline = setTimeout(() => {
    progress(`the benchmark ran past ${deadlineMs / 60_000} minutes; stopping`)
    void cleanUp().finally(() => process.exit(1))
  }, deadlineMs)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`${signal}: stopping`)
      void cleanUp().finally(() => process.exit(130))
    })
  }
  main().then(
    async () => {
      clearTimeout(deadline)
      await cleanUp()
      process.exit(0)
    },
    async (error: unknown) => {
      clearTimeout(deadline)
      console.error(error)
      await cleanUp()
      process.exit(1)
    },
  )
}
