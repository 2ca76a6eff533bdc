import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isAlive, spawnServer, stopProcess, tailFile } from './process.ts'

const dirs: string[] = []
const pids: number[] = []

afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // Already stopped by the test.
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A stand-in server: a shell that ignores SIGTERM if asked to, with the run folder in its arguments. */
function spawnStandIn(ignoreTerm: boolean) {
  const runDir = mkdtempSync(join(tmpdir(), 'gridroot-process-test-'))
  dirs.push(runDir)
  const script = `${ignoreTerm ? 'trap "" TERM; ' : ''}echo ready; while true; do sleep 0.05; done`
  const spawned = spawnServer({
    name: 'stand-in',
    command: 'sh',
    args: ['-c', script, `${runDir}/stand-in.conf`],
    logFile: join(runDir, 'logs', 'stand-in.log'),
    pidFile: join(runDir, 'pids', 'stand-in.pid'),
    cwd: runDir,
  })
  pids.push(spawned.pid)
  return { runDir, spawned }
}

describe('stopProcess', () => {
  it('stops a server with SIGTERM and its log holds what it printed', async () => {
    const { runDir, spawned } = spawnStandIn(false)
    await expect.poll(() => tailFile(join(runDir, 'logs', 'stand-in.log'), 1)).toEqual(['ready'])
    expect(await stopProcess(spawned.pid, `${runDir}/`, 2_000)).toEqual({
      pid: spawned.pid,
      outcome: 'stopped',
    })
    expect(isAlive(spawned.pid)).toBe(false)
  })

  it('escalates to SIGKILL when SIGTERM is ignored past the grace period', async () => {
    const { runDir, spawned } = spawnStandIn(true)
    await expect.poll(() => tailFile(join(runDir, 'logs', 'stand-in.log'), 1)).toEqual(['ready'])
    expect((await stopProcess(spawned.pid, `${runDir}/`, 300)).outcome).toBe('killed')
    expect(isAlive(spawned.pid)).toBe(false)
  })

  it('leaves alone a pid whose command line does not carry the run folder', async () => {
    const { spawned } = spawnStandIn(false)
    expect((await stopProcess(spawned.pid, '/some/other/run/', 300)).outcome).toBe('not-ours')
    expect(isAlive(spawned.pid)).toBe(true)
  })
})
