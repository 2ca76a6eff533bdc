/** Real Chromium (Debian's package) through playwright-core, with the flags of INFRA.md. */
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { REPO_ROOT } from '../../stack/paths.ts'
import { printProgress, reporter } from '../../stack/progress.ts'
import { ensureChromium } from '../../stack/provision/chromium.ts'

/** Debian's Chromium (installed on first use when this runs as root), or GRIDROOT_CHROMIUM. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await ensureChromium(reporter('stack', printProgress))
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}

/**
 * Where screenshots go: test artifacts under .run/screenshots/ (git-ignored with .run/, never
 * committed). `name` may hold a folder of the test's own, e.g. `auditor-browser/verified.png`.
 */
export function screenshotPath(name: string): string {
  const path = join(REPO_ROOT, '.run', 'screenshots', name)
  mkdirSync(dirname(path), { recursive: true })
  return path
}
