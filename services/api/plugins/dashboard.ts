/**
 * The dashboard: static files of services/api/dashboard, and uPlot from its npm package, both
 * served by this server (nothing from a CDN).
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboard')
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot'))

export async function dashboardPlugin(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: '/', index: 'index.html', maxAge: 60_000 })
  await app.register(fastifyStatic, {
    root: UPLOT_DIR,
    prefix: '/assets/uplot/',
    decorateReply: false,
    allowedPath: (path) => /^\/?uPlot\.(iife\.min\.js|min\.css|esm\.js)$/.test(path),
    maxAge: 3_600_000,
  })
}
