/**
 * The servers the aggregator benchmark runs against: the healthy stack named by
 * GRIDROOT_STACK_RUN_DIR when there is one (fast iterations), otherwise a private stack on free
 * ports in `.run/bench-agg-<pid>`, stopped and removed when the benchmark ends, however it ends.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { printProgress, reuseStack, type StackHandle, startStack } from '../../stack/index.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import { progress } from './progress.ts'

export async function acquireAggregateBenchStack(requestedRunDir: string | undefined): Promise<StackHandle> {
  if (requestedRunDir !== undefined && requestedRunDir !== '') {
    const reused = await reuseStack(requestedRunDir, printProgress)
    if (reused !== undefined) return reused
    progress(`GRIDROOT_STACK_RUN_DIR=${requestedRunDir} has no healthy stack; starting a private one`)
  }
  return startStack({
    runDir: join(REPO_ROOT, '.run', `bench-agg-${process.pid}`),
    ports: 'free',
    reuse: false,
    onProgress: printProgress,
  })
}

/** Stops the stack if this benchmark started it, and removes its run folder. */
export async function releaseAggregateBenchStack(stack: StackHandle): Promise<void> {
  if (!stack.startedHere) return
  await stack.stop()
  rmSync(stack.runDir, { recursive: true, force: true })
}
