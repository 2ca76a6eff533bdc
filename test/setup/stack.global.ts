import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { printProgress, reuseStack, type StackHandle, startStack } from '../../stack/index.ts'
import { REPO_ROOT } from '../../stack/paths.ts'
import { isAlive } from '../../stack/process.ts'
import { reporter } from '../../stack/progress.ts'
import { ensureChromium } from '../../stack/provision/chromium.ts'
import { recordedTargets, stopServers } from '../../stack/stop.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The servers of the stack the integration tests run against; `inject('endpoints')`. */
    endpoints: Endpoints
  }
}

const RUN_ROOT = join(REPO_ROOT, '.run')
const TEST_DIR_PREFIX = 'test-'

/**
 * Global setup of the `integration` project. Reuses the healthy stack named by
 * GRIDROOT_STACK_RUN_DIR (fast local iterations: `npm run stack -- up`, then
 * `GRIDROOT_STACK_RUN_DIR=.run/default npm run test:integration`); otherwise starts a private
 * stack on free ports, so it never collides with a developer's stack, and stops it afterwards.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await cleanUpAbandonedRuns()
  // The browser tests need Chromium: installed (first run on a fresh machine) while the stack
  // starts. A failure is theirs to report (launchChromium throws the same clear error).
  const chromium = ensureChromium(reporter('stack', printProgress)).catch((error: unknown) => {
    console.error(`[stack] chromium not available, browser tests will fail: ${String(error)}`)
  })
  let handle: StackHandle | undefined
  const requested = process.env.GRIDROOT_STACK_RUN_DIR
  if (requested !== undefined && requested !== '') {
    handle = await reuseStack(requested, printProgress)
    if (handle === undefined) {
      console.error(
        `[stack] GRIDROOT_STACK_RUN_DIR=${requested} has no healthy stack; starting a private one`,
      )
    }
  }
  if (handle === undefined) {
    handle = await startStack({
      runDir: join(RUN_ROOT, `${TEST_DIR_PREFIX}${process.pid}`),
      ports: 'free',
      reuse: false,
      onProgress: printProgress,
    })
  }
  await chromium
  project.provide('endpoints', handle.endpoints)
  const stack = handle

  return async () => {
    if (!stack.startedHere) return
    await stack.stop()
    if (project.vitest.state.getCountOfFailedTests() > 0) {
      console.error(
        `[stack] tests failed; server logs kept in ${join(stack.runDir, 'logs')} until the next run`,
      )
    } else {
      rmSync(stack.runDir, { recursive: true, force: true })
    }
  }
}

/**
 * A test run that was killed (Ctrl-C twice, CI timeout) leaves detached servers behind: stop
 * those of runs whose vitest process is gone, and remove their folders.
 */
async function cleanUpAbandonedRuns(): Promise<void> {
  if (!existsSync(RUN_ROOT)) return
  for (const entry of readdirSync(RUN_ROOT)) {
    if (!entry.startsWith(TEST_DIR_PREFIX)) continue
    const ownerPid = Number.parseInt(entry.slice(TEST_DIR_PREFIX.length), 10)
    if (!Number.isInteger(ownerPid) || ownerPid === process.pid || isAlive(ownerPid)) continue
    const runDir = join(RUN_ROOT, entry)
    try {
      await stopServers(runDir, recordedTargets(runDir))
    } catch (error) {
      console.error(`[stack] could not clean up ${runDir}; remove it by hand`, error)
      continue
    }
    rmSync(runDir, { recursive: true, force: true })
  }
}
