/**
 * The dashboard: static files of services/api/dashboard, and uPlot from its npm package, both
 * served by this server (nothing from a CDN).
 */
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboard')
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot'))
const UPLOT_FILE = /^\/?uPlot\.(iife\.min\.js|min\.css|esm\.js)$/

/**
 * The URL paths of the files served here, as a request names them (no query, no encoding):
 * what app.ts exempts from the API's rate limit. Read once; the folder changes with a deploy.
 */
export function dashboardFilePaths(): ReadonlySet<string> {
  const files = (dir: string) =>
    readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name)
  return new Set([
    '/',
    ...files(DASHBOARD_DIR).map((name) => `/${name}`),
    ...files(UPLOT_DIR)
      .filter((name) => UPLOT_FILE.test(name))
      .map((name) => `/assets/uplot/${name}`),
  ])
}

export async function dashboardPlugin(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: '/', index: 'index.html', maxAge: 60_000 })
  await app.register(fastifyStatic, {
    root: UPLOT_DIR,
    prefix: '/assets/uplot/',
    decorateReply: false,
    allowedPath: (path) => UPLOT_FILE.test(path),
    maxAge: 3_600_000,
  })
}
