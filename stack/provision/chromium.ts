/**
 * Chromium for the browser tests and `bench:api`: Debian's package, driven by playwright-core
 * (`npx playwright install` cannot download here: no internet, ../shared/INFRA.md). Installed on
 * first use like the servers' tools, so `npm test` on a fresh machine needs nothing beforehand.
 */
import { existsSync } from 'node:fs'
import { STACK_ERROR_CODES, StackError } from '../errors.ts'
import type { Report } from '../progress.ts'
import { ensureTool } from './tools.ts'

let pending: Promise<string> | undefined

/** The Chromium executable: GRIDROOT_CHROMIUM when set, else Debian's, installed when missing. */
export function ensureChromium(report: Report): Promise<string> {
  pending ??= find(report).finally(() => {
    pending = undefined
  })
  return pending
}

async function find(report: Report): Promise<string> {
  const configured = process.env.GRIDROOT_CHROMIUM
  if (configured !== undefined && configured !== '') {
    if (existsSync(configured)) return configured
    throw new StackError(STACK_ERROR_CODES.toolMissing, `GRIDROOT_CHROMIUM=${configured} does not exist`, {
      metaMessages: ['Point it at a Chromium executable, or unset it to use (and install) Debian chromium.'],
    })
  }
  return ensureTool(
    { binary: 'chromium', aptPackage: 'chromium', neededFor: 'the browser tests and bench:api' },
    report,
  )
}
