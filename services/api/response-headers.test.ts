/**
 * Every answer tells a browser not to frame it and not to sniff its type (attack issue 12 F9:
 * the holder view's Claim button could sit under another site's transparent frame). The
 * dashboard still works under them: test/api/dashboard.test.ts drives it in Chromium.
 */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STUB_KEY, stubApp } from './testing/stub-app.ts'

let app: FastifyInstance

beforeAll(async () => {
  app = await stubApp()
})

afterAll(async () => {
  await app?.close()
})

describe('anti-framing and no-sniff headers', () => {
  it.each([
    ['the dashboard', '/'],
    ['the holder view', '/holder.html'],
    ['a dashboard script', '/operator.js'],
    ['the wallet glue', '/assets/wallet.js'],
    ['the docs page', '/docs/static/index.html'],
    ['an operator route', '/api/v1/operator/fleet'],
    ['a refusal', '/api/v1/operator/nothing'],
    ['/healthz', '/healthz'],
  ])('are on %s', async (_what, url) => {
    const res = await app.inject({ url, headers: { 'x-api-key': STUB_KEY.key } })
    expect(res.statusCode, res.body.slice(0, 200)).toBeLessThan(500)
    expect(res.headers['x-frame-options']).toBe('DENY')
    expect(res.headers['content-security-policy']).toBe("frame-ancestors 'none'")
    expect(res.headers['x-content-type-options']).toBe('nosniff')
  })
})
