import type { Report } from '../progress.ts'

/**
 * Keeps a long download or build visibly moving: counts matching output lines, reports every
 * `everyLines` of them, and reports elapsed time when the output is quiet for `quietMs`.
 */
export function createProgressTicker(
  report: Report,
  options: { readonly noun: string; readonly everyLines: number; readonly quietMs: number },
) {
  const startedMs = Date.now()
  let count = 0
  let last = ''
  let lastReportMs = startedMs
  const elapsed = () => `${Math.round((Date.now() - startedMs) / 1000)} s`
  const timer = setInterval(() => {
    if (Date.now() - lastReportMs < options.quietMs) return
    lastReportMs = Date.now()
    report(
      'provision',
      `still working: ${count} ${options.noun} after ${elapsed()}${last === '' ? '' : ` (last: ${last})`}`,
    )
  }, 1_000)
  timer.unref()
  return {
    /** Counts one unit of work (a package compiled, an artifact downloaded). */
    tick(label: string): void {
      count++
      last = label
      if (count % options.everyLines === 0) {
        lastReportMs = Date.now()
        report('provision', `${count} ${options.noun} after ${elapsed()} (last: ${label})`)
      }
    },
    stop(): { count: number; elapsedS: number } {
      clearInterval(timer)
      return { count, elapsedS: Math.round((Date.now() - startedMs) / 1000) }
    },
  }
}
