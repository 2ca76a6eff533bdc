/** Progress lines on stderr, so a long benchmark shows it is moving and stdout keeps the table. */
const startedMs = performance.now()

export function progress(message: string): void {
  const seconds = ((performance.now() - startedMs) / 1000).toFixed(1).padStart(6)
  console.error(`[bench ${seconds}s] ${message}`)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
