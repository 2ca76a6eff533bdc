/**
 * The dashboard's own files are outside the API's rate limit (attack12e F7: unkeyed API calls
 * from the operator's address, a NAT or a reverse proxy used up the per-address bucket and `/`
 * answered 429). Only files that exist are exempt: a path that is no file still counts.
 */
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { stubApp } from './testing/stub-app.ts'

const MAX = 5
let app: FastifyInstance | undefined

afterEach(async () => {
  await app?.close()
  app = undefined
})

const get = async (url: string, headers: Record<string, string> = {}) => {
  if (app === undefined) throw new Error('no app')
  const res = await app.inject({ method: 'GET', url, headers })
  return { status: res.statusCode, code: res.statusCode === 200 ? undefined : res.json().error?.code }
}

async function exhaust(headers: Record<string, string> = {}): Promise<void> {
  for (let i = 0; i < MAX; i++) expect((await get('/api/v1/auditor/pools', headers)).status).toBe(200)
  expect(await get('/api/v1/auditor/pools', headers)).toEqual({ status: 429, code: 'RATE_LIMITED' })
}

const DASHBOARD = [
  '/',
  '/index.html',
  '/operator.js',
  '/style.css',
  '/holder.html',
  '/holder.js',
  '/auditor.html',
  '/favicon.ico',
  '/assets/uplot/uPlot.iife.min.js',
  '/assets/uplot/uPlot.min.css',
  '/assets/wallet.js',
  '/dev-wallet/provider.js',
]

describe('the dashboard under the rate limit (attack12e F7)', () => {
  it('serves its files to an address whose API bucket is empty', async () => {
    app = await stubApp({}, { rateLimit: { max: MAX, windowMs: 60_000 } })
    await exhaust()
    for (const url of DASHBOARD) expect((await get(url)).status, url).toBe(200)
  })

  it('charges nothing for its files: the API calls after them are all answered', async () => {
    app = await stubApp({}, { rateLimit: { max: MAX, windowMs: 60_000 } })
    for (const url of [...DASHBOARD, ...DASHBOARD]) expect((await get(url)).status, url).toBe(200)
    await exhaust()
  })

  it('still counts paths that are no dashboard file, and files asked for with a query', async () => {
    app = await stubApp({}, { rateLimit: { max: MAX, windowMs: 60_000 } })
    await exhaust()
    for (const url of [
      '/nothing.js',
      '/assets/nothing.js',
      '/assets/uplot/uPlot.cjs.js',
      '/index.html?x=1',
      '/operator%2Ejs',
      '/.env',
    ])
      expect(await get(url), url).toEqual({ status: 429, code: 'RATE_LIMITED' })
  })

  it('rate-limits per client address behind a trusted proxy (GRIDROOT_API_TRUST_PROXY)', async () => {
    app = await stubApp({}, { rateLimit: { max: MAX, windowMs: 60_000 }, trustProxy: ['127.0.0.1'] })
    if (app === undefined) throw new Error('no app')
    const viaProxy = (client: string) =>
      app?.inject({
        url: '/api/v1/auditor/pools',
        remoteAddress: '127.0.0.1',
        headers: { 'x-forwarded-for': client },
      })
    for (let i = 0; i < MAX; i++) expect((await viaProxy('203.0.113.7'))?.statusCode).toBe(200)
    expect((await viaProxy('203.0.113.7'))?.statusCode).toBe(429)
    expect((await viaProxy('203.0.113.8'))?.statusCode).toBe(200)
    // A forwarded-for header from an address that is not the proxy is not believed.
    const direct = (client: string) =>
      app?.inject({
        url: '/api/v1/auditor/pools',
        remoteAddress: '198.51.100.1',
        headers: { 'x-forwarded-for': client },
      })
    for (let i = 0; i < MAX; i++) expect((await direct(`203.0.113.${20 + i}`))?.statusCode).toBe(200)
    expect((await direct('203.0.113.99'))?.statusCode).toBe(429)
  })
})

describe('/healthz, /metrics and /docs under the rate limit (attack issue 12 F4)', () => {
  const PROBE_MAX = 8

  it('counts /docs and its files like any API path', async () => {
    app = await stubApp({}, { rateLimit: { max: MAX, windowMs: 60_000, probeMax: PROBE_MAX } })
    await exhaust()
    for (const url of ['/docs', '/docs/json', '/docs/static/index.html'])
      expect(await get(url), url).toEqual({ status: 429, code: 'RATE_LIMITED' })
  })

  it('gives /healthz and /metrics each a bucket of their own: API traffic never throttles a probe', async () => {
    app = await stubApp({}, { rateLimit: { max: MAX, windowMs: 60_000, probeMax: PROBE_MAX } })
    await exhaust()
    for (let i = 0; i < PROBE_MAX; i++) {
      expect((await get('/healthz')).status).toBe(200)
      expect((await get('/metrics')).status).toBe(200)
    }
    expect(await get('/healthz')).toEqual({ status: 429, code: 'RATE_LIMITED' })
    expect(await get('/metrics')).toEqual({ status: 429, code: 'RATE_LIMITED' })
  })

  it('charges probes nothing of the API bucket', async () => {
    app = await stubApp({}, { rateLimit: { max: MAX, windowMs: 60_000, probeMax: PROBE_MAX } })
    for (let i = 0; i < PROBE_MAX; i++) expect((await get('/healthz')).status).toBe(200)
    await exhaust()
  })
})
