import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { nodeTsArgs } from '../runtime/node-ts.ts'
import { createPortReservations } from './port-reservations.ts'
import { ephemeralPort } from './ports.ts'

const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
})

const sleeper = () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  children.push(child)
  return child
}

describe('createPortReservations', () => {
  it('a port reserved by a live process is refused to another, and free again once released', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridroot-reservations-'))
    const other = sleeper()
    const theirs = createPortReservations({ dir, pid: other.pid as number })
    const mine = createPortReservations({ dir })
    expect(theirs.reserve(9465, '/clone-a/.run/default aggregator')).toBe(true)
    expect(mine.reserve(9465, '/clone-b/.run/default aggregator')).toBe(false)
    expect(mine.holder(9465)).toMatchObject({ pid: other.pid, owner: '/clone-a/.run/default aggregator' })
    theirs.release(9465)
    expect(mine.reserve(9465, '/clone-b/.run/default aggregator')).toBe(true)
    expect(mine.holder(9465)?.pid).toBe(process.pid)
    mine.releaseAll()
    expect(readdirSync(dir)).toEqual([])
  })

  it("a dead process's reservation is taken over", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridroot-reservations-'))
    const gone = sleeper()
    expect(createPortReservations({ dir, pid: gone.pid as number }).reserve(8080, 'killed run')).toBe(true)
    gone.kill('SIGKILL')
    await new Promise((r) => gone.once('exit', r))
    const mine = createPortReservations({ dir })
    expect(mine.holder(8080)).toBeUndefined()
    expect(mine.reserve(8080, 'this run')).toBe(true)
    expect(mine.holder(8080)?.owner).toBe('this run')
  })

  it('a half-written reservation holds the port for a while, then is taken over', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridroot-reservations-'))
    writeFileSync(join(dir, '9470.json'), '')
    expect(createPortReservations({ dir }).reserve(9470, 'this run')).toBe(false)
  })

  it('two runs allocating the same preferred ports at the same moment get disjoint ports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridroot-reservations-'))
    const preferred = await Promise.all(Array.from({ length: 9 }, () => ephemeralPort()))
    const startAtMs = Date.now() + 2_500
    const { command, args } = nodeTsArgs('stack/testing/allocate-ports.ts')
    const run = () =>
      new Promise<number[]>((resolve, reject) => {
        const child = spawn(command, [...args, dir, String(startAtMs), ...preferred.map(String)], {
          stdio: ['pipe', 'pipe', 'inherit'],
        })
        children.push(child)
        let out = ''
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          if (out.includes('\n')) resolve(JSON.parse(out) as number[])
        })
        child.once('exit', (code) => reject(new Error(`allocator exited ${code}: ${out}`)))
      })
    const [a, b] = await Promise.all([run(), run()])
    expect(a).toHaveLength(9)
    expect(b).toHaveLength(9)
    expect(new Set([...(a ?? []), ...(b ?? [])]).size).toBe(18)
    // Each preferred port went to exactly one of them; the other got free ones instead.
    for (const port of preferred) expect([a, b].filter((run) => run?.includes(port))).toHaveLength(1)
  }, 30_000)
})
