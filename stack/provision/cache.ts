import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cacheRoot } from '../paths.ts'

/** Written last into a cache entry; an entry without it is unfinished and never used. */
export const STAMP_FILE = '.gridroot-complete.json'

export interface CacheEntry {
  readonly name: string
  readonly version: string
  readonly dir: string
}

export function cacheEntry(name: string, version: string, root: string = cacheRoot()): CacheEntry {
  return { name, version, dir: join(root, `${name}-${version}`) }
}

export function isComplete(entry: CacheEntry): boolean {
  const stamp = join(entry.dir, STAMP_FILE)
  if (!existsSync(stamp)) return false
  try {
    const parsed = JSON.parse(readFileSync(stamp, 'utf8')) as { version?: unknown }
    return parsed.version === entry.version
  } catch {
    return false
  }
}

export function writeStamp(dir: string, entry: CacheEntry, how: string): void {
  const stamp = { name: entry.name, version: entry.version, how, completedAtIso: new Date().toISOString() }
  writeFileSync(join(dir, STAMP_FILE), `${JSON.stringify(stamp, null, 2)}\n`)
}

/**
 * Fills a cache entry through a temporary sibling directory that is renamed into place only
 * after `build` succeeded and the stamp is written, so an interrupted download or build is never
 * mistaken for a finished one. When two processes race, the first rename wins and the other
 * uses its result.
 */
export async function fillCacheEntry(
  entry: CacheEntry,
  how: string,
  build: (tmpDir: string) => Promise<void>,
): Promise<void> {
  const tmpDir = `${entry.dir}.tmp-${process.pid}-${Date.now()}`
  mkdirSync(tmpDir, { recursive: true })
  try {
    await build(tmpDir)
    writeStamp(tmpDir, entry, how)
    if (existsSync(entry.dir) && !isComplete(entry)) rmSync(entry.dir, { recursive: true, force: true })
    try {
      renameSync(tmpDir, entry.dir)
    } catch (error) {
      if (!isComplete(entry)) throw error
    }
  } finally {
    rmSync(tmpDir, { recursive: true, force: true })
  }
}

/**
 * An entry made by hand (or by an older version of this code) has no stamp. When `verify` shows
 * its contents are whole, stamp it instead of downloading or building again.
 */
export async function adoptUnstamped(
  entry: CacheEntry,
  verify: (dir: string) => Promise<boolean>,
): Promise<boolean> {
  if (isComplete(entry) || !existsSync(entry.dir)) return isComplete(entry)
  if (!(await verify(entry.dir))) return false
  writeStamp(entry.dir, entry, 'adopted an existing unstamped directory after verifying it')
  return true
}
