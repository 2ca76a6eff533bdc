/**
 * The servers a benchmark runs against: the healthy stack named by GRIDROOT_STACK_RUN_DIR when
 * there is one (fast iterations), otherwise a private stack on free ports in `.run/bench-<pid>`,
 * stopped and removed when the benchmark ends, however it ends.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { printProgress, reuseStack, type StackHandle, startStack } from '../../stack/index.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import { isAlive } from '../../stack/process.ts'
import { recordedTargets, stopServers } from '../../stack/stop.ts'
import { progress } from './progress.ts'

const RUN_ROOT = join(REPO_ROOT, '.run')
const PRIVATE_PREFIX = 'bench-'

export async function acquireBenchStack(requestedRunDir: string | undefined): Promise<StackHandle> {
  await cleanUpAbandonedRuns()
  if (requestedRunDir !== undefined && requestedRunDir !== '') {
    const reused = await reuseStack(requestedRunDir, printProgress)
    if (reused !== undefined) return reused
    progress(`GRIDROOT_STACK_RUN_DIR=${requestedRunDir} has no healthy stack; starting a private one`)
  }
  return startStack({
    runDir: join(RUN_ROOT, `${PRIVATE_PREFIX}${process.pid}`),
    ports: 'free',
    reuse: false,
    onProgress: printProgress,
  })
}

/** Stops the stack if this benchmark started it, and removes its run folder. */
export async function releaseBenchStack(stack: StackHandle): Promise<void> {
  if (!stack.startedHere) return
  await stack.stop()
  rmSync(stack.runDir, { recursive: true, force: true })
}

/**
 * A benchmark that was killed (SIGKILL, a closed terminal) leaves its detached servers behind:
 * stop those of `.run/bench-<pid>` folders whose process is gone, and remove the folders.
 */
async function cleanUpAbandonedRuns(): Promise<void> {
  if (!existsSync(RUN_ROOT)) return
  for (const entry of readdirSync(RUN_ROOT)) {
    const owner = /^bench-(\d+)$/.exec(entry)?.[1]
    if (owner === undefined || Number(owner) === process.pid || isAlive(Number(owner))) continue
    const runDir = join(RUN_ROOT, entry)
    progress(`stopping the servers of an abandoned benchmark in ${runDir}`)
    try {
      await stopServers(runDir, recordedTargets(runDir))
      rmSync(runDir, { recursive: true, force: true })
    } catch (error) {
      progress(`could not clean up ${runDir} (${String(error)}); remove it by hand`)
    }
  }
}
