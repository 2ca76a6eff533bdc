/**
 * The admission worker precompiled: admit-worker.ts and the TypeScript it imports bundled by
 * esbuild into one ES module, so each worker thread loads plain JavaScript instead of
 * registering tsx and transforming every module itself (seconds per worker on a busy machine).
 *
 * Built once per process, in memory, on first use; written to
 * `node_modules/.cache/gridroot/admit-worker-<sha256 of the bundle>.mjs` (outside the tracked
 * tree, shared by every checkout that uses this node_modules, never stale: a changed source is
 * another file). Packages stay external and resolve from there through node_modules, as from
 * the sources (sodium-native finds its native addon itself). When the bundle cannot be built or
 * written, the workers load the TypeScript through tsx (admit-worker-entry.mjs) as before.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, realpathSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const TSX_ENTRY = new URL('./admit-worker-entry.mjs', import.meta.url)
let built: URL | undefined

/** The URL the admission workers load: the cached bundle, or the tsx entry when it cannot be had. */
export async function admitWorkerUrl(): Promise<URL> {
  if (built !== undefined) return built
  try {
    built = await bundle()
  } catch {
    built = TSX_ENTRY
  }
  return built
}

async function bundle(): Promise<URL> {
  const here = dirname(fileURLToPath(import.meta.url))
  const repo = join(here, '..', '..', '..')
  const { build } = await import('esbuild')
  const result = await build({
    entryPoints: [join(here, 'admit-worker.ts')],
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    absWorkingDir: repo,
  })
  const code = result.outputFiles[0]?.contents
  if (code === undefined) throw new Error('esbuild wrote no bundle')
  const digest = createHash('sha256').update(code).digest('hex').slice(0, 32)
  const cacheDir = join(realpathSync(join(repo, 'node_modules')), '.cache', 'gridroot')
  const file = join(cacheDir, `admit-worker-${digest}.mjs`)
  if (!existsSync(file)) {
    mkdirSync(cacheDir, { recursive: true })
    // Written aside and renamed: a worker of another process never loads a half-written file.
    const partial = `${file}.${process.pid}.tmp`
    writeFileSync(partial, code)
    renameSync(partial, file)
  }
  return pathToFileURL(file)
}
