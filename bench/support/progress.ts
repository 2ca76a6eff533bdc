/** Progress lines on stderr, so a long benchmark shows it is moving and stdout keeps the table. */
const startedMs = performance.now()

export function progress(message: string): void {
  const seconds = ((performance.now() - startedMs) / 1000).toFixed(1).padStart(6)
  console.error(`[bench ${seconds}s] ${message}`)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Runs a benchmark's `main` under a deadline, with Ctrl-C handling, and always runs `cleanUp`
 * (which stops the stack) before the process exits.
 */
export function runBench(main: () => Promise<void>, cleanUp: () => Promise<void>, deadlineMs: number): void {
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
