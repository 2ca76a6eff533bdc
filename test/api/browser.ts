/** Real Chromium (Debian's package) through playwright-core, with the flags of INFRA.md. */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { REPO_ROOT } from '../../stack/paths.ts'

export const CHROMIUM_PATH = process.env.GRIDROOT_CHROMIUM ?? '/usr/bin/chromium'

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (or set GRIDROOT_CHROMIUM)`)
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
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

/** Where screenshots go: test artifacts under .run/, never committed. */
export function screenshotPath(name: string): string {
  const dir = join(REPO_ROOT, '.run', 'screenshots')
  mkdirSync(dir, { recursive: true })
  return join(dir, name)
}
