import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { adoptUnstamped, cacheEntry, fillCacheEntry, isComplete } from './cache.ts'

const roots: string[] = []
function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'gridroot-cache-test-'))
  roots.push(root)
  return root
}

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

describe('fillCacheEntry', () => {
  it('renames a finished build into place with its stamp', async () => {
    const entry = cacheEntry('tool', '1.2.3', tempRoot())
    await fillCacheEntry(entry, 'test', async (dir) => writeFileSync(join(dir, 'bin'), 'x'))
    expect(isComplete(entry)).toBe(true)
    expect(existsSync(join(entry.dir, 'bin'))).toBe(true)
  })

  it('leaves neither the entry nor the temporary folder after a failed build', async () => {
    const root = tempRoot()
    const entry = cacheEntry('tool', '1.2.3', root)
    await expect(
      fillCacheEntry(entry, 'test', async (dir) => {
        writeFileSync(join(dir, 'half'), 'x')
        throw new Error('download interrupted')
      }),
    ).rejects.toThrow('download interrupted')
    expect(readdirSync(root)).toEqual([])
    expect(isComplete(entry)).toBe(false)
  })

  it('replaces an unstamped leftover of an earlier interrupted run', async () => {
    const entry = cacheEntry('tool', '1.2.3', tempRoot())
    mkdirSync(entry.dir, { recursive: true })
    writeFileSync(join(entry.dir, 'stale'), 'x')
    await fillCacheEntry(entry, 'test', async (dir) => writeFileSync(join(dir, 'fresh'), 'x'))
    expect(readdirSync(entry.dir).sort()).toEqual(['.gridroot-complete.json', 'fresh'])
  })
})

describe('adoptUnstamped', () => {
  it('stamps an unstamped entry only when verify accepts it', async () => {
    const entry = cacheEntry('tool', '1.2.3', tempRoot())
    mkdirSync(entry.dir, { recursive: true })
    expect(await adoptUnstamped(entry, async () => false)).toBe(false)
    expect(isComplete(entry)).toBe(false)
    expect(await adoptUnstamped(entry, async () => true)).toBe(true)
    expect(isComplete(entry)).toBe(true)
  })

  it('treats a stamp of another version as incomplete', async () => {
    const root = tempRoot()
    await fillCacheEntry(cacheEntry('tool', '1.0.0', root), 'test', async () => undefined)
    const renamed = cacheEntry('tool', '2.0.0', root)
    mkdirSync(renamed.dir, { recursive: true })
    writeFileSync(join(renamed.dir, '.gridroot-complete.json'), JSON.stringify({ version: '1.0.0' }))
    expect(isComplete(renamed)).toBe(false)
  })
})
