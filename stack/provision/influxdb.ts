import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { STACK_ERROR_CODES, StackError } from '../errors.ts'
import { cacheRoot } from '../paths.ts'
import { runToCompletion } from '../process.ts'
import type { Report } from '../progress.ts'
import { adoptUnstamped, cacheEntry, fillCacheEntry, isComplete } from './cache.ts'
import { runStreaming } from './command.ts'
import { createProgressTicker } from './progress-ticker.ts'
import { ensureTool } from './tools.ts'

export const INFLUXDB_VERSION = '1.8.10'

/** The Go toolchain to fall back to when the installed Go rejects influxdb's 2020-era dependencies. */
export const FALLBACK_GO_TOOLCHAIN = 'go1.21.13'

export interface InfluxInstall {
  readonly binary: string
  readonly version: string
}

/**
 * The influxd binary from the cache, built with `go install` on the first run: Debian only has
 * 1.6, which lacks the v2 API and Flux that @influxdata/influxdb-client needs.
 */
export async function ensureInfluxd(report: Report): Promise<InfluxInstall> {
  const entry = cacheEntry('influxdb', INFLUXDB_VERSION)
  const binary = join(entry.dir, 'bin', 'influxd')
  if (isComplete(entry)) return { binary, version: INFLUXDB_VERSION }
  if (await adoptUnstamped(entry, verifyInfluxd)) {
    report('provision', `verified the unstamped binary in ${entry.dir} and stamped the cache entry complete`)
    return { binary, version: INFLUXDB_VERSION }
  }

  const go = await ensureTool(
    { binary: 'go', aptPackage: 'golang-go', neededFor: 'building InfluxDB' },
    report,
  )
  await ensureTool({ binary: 'gcc', aptPackage: 'gcc', neededFor: 'building InfluxDB (cgo)' }, report)
  const gopath = join(cacheRoot(), 'gopath')
  mkdirSync(gopath, { recursive: true })
  report(
    'provision',
    `building influxd ${INFLUXDB_VERSION} with go install (first run only: 10–15 min and 2–3 GB of Go caches on 2 cores)…`,
  )
  await fillCacheEntry(
    entry,
    `go install github.com/influxdata/influxdb/cmd/influxd@v${INFLUXDB_VERSION}`,
    async (tmpDir) => {
      const first = await goInstall(go, gopath, join(tmpDir, 'bin'), undefined, report)
      if (first.code === 0 && (await verifyInfluxd(tmpDir))) return
      report(
        'provision',
        `go install failed with the installed Go; retrying with GOTOOLCHAIN=${FALLBACK_GO_TOOLCHAIN}`,
        {
          level: 'warn',
          data: { tail: first.tail.slice(-5) },
        },
      )
      const second = await goInstall(go, gopath, join(tmpDir, 'bin'), FALLBACK_GO_TOOLCHAIN, report)
      if (second.code === 0 && (await verifyInfluxd(tmpDir))) return
      throw new StackError(
        STACK_ERROR_CODES.provisionFailed,
        `go install of influxd ${INFLUXDB_VERSION} failed`,
        {
          server: 'influxdb',
          metaMessages: [
            ...second.tail.slice(-12).map((line) => `  ${line}`),
            'Check that the Go module proxy (proxy.golang.org) is reachable and that gcc is installed, then run again.',
          ],
        },
      )
    },
  )
  return { binary, version: INFLUXDB_VERSION }
}

async function goInstall(
  go: string,
  gopath: string,
  gobin: string,
  toolchain: string | undefined,
  report: Report,
): Promise<{ code: number | null; tail: readonly string[] }> {
  const ticker = createProgressTicker(report, {
    noun: 'modules fetched + packages compiled',
    everyLines: 40,
    quietMs: 20_000,
  })
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GOPATH: gopath,
    GOBIN: gobin,
    GOFLAGS: '-mod=mod',
    CGO_ENABLED: '1',
    ...(toolchain === undefined ? {} : { GOTOOLCHAIN: toolchain }),
  }
  const run = await runStreaming(
    go,
    ['install', '-v', `github.com/influxdata/influxdb/cmd/influxd@v${INFLUXDB_VERSION}`],
    {
      env,
      onLine: (line) => {
        const downloading = /^go: downloading (\S+)/.exec(line)
        if (downloading?.[1] !== undefined) ticker.tick(`fetched ${downloading[1]}`)
        // `go install -v` prints each package path it compiles on a line of its own.
        else if (/^[\w.-]+(\/[\w.~-]+)+$/.test(line)) ticker.tick(`compiled ${line}`)
      },
    },
  )
  const { count, elapsedS } = ticker.stop()
  report('provision', `go install finished with code ${run.code}: ${count} steps in ${elapsedS} s`)
  return run
}

async function verifyInfluxd(entryDir: string): Promise<boolean> {
  const binary = join(entryDir, 'bin', 'influxd')
  if (!existsSync(binary)) return false
  const { code, output } = await runToCompletion(binary, ['version'], { timeoutMs: 20_000 })
  return code === 0 && output.startsWith('InfluxDB')
}
