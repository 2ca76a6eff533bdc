/**
 * Fastify's own request log, through the logger the API hands it (app.ts withRedactedUrls): no
 * key sent in the query string reaches the log, under any name or spelling (attack12b F1,
 * attack12d F1); the values of the parameters routes declare stay readable.
 */
import { Writable } from 'node:stream'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { Logger } from '../../runtime/log.ts'
import { STUB_KEY, stubApp } from './testing/stub-app.ts'

async function loggedUrls(urls: readonly string[]): Promise<string[]> {
  let written = ''
  const sink = new Writable({
    write(chunk, _encoding, done) {
      written += chunk.toString()
      done()
    },
  })
  const app = await stubApp({}, { logger: pino({ level: 'info' }, sink) as unknown as Logger })
  for (const url of urls) await app.inject({ url, headers: { 'x-api-key': STUB_KEY.key } })
  await app.close()
  return written
    .split('\n')
    .filter((line) => line.includes('incoming request'))
    .map((line) => (JSON.parse(line) as { req: { url: string } }).req.url)
}

describe('the API request log', () => {
  it('redacts a key under any name, array or case form, and every undeclared value', async () => {
    const key = STUB_KEY.key
    const logged = await loggedUrls([
      `/api/v1/operator/pools?foo=${key}`,
      '/api/v1/operator/pools?api_key[]=SECRETQB',
      '/api/v1/operator/pools?API_KEY=SECRETQB&Key=SECRETQB&key=SECRETQB',
      `/api/v1/operator/devices?pool=${encodeURIComponent(key)}`,
      `/api/v1/operator/devices?${key}`,
      `/api/v1/operator/devices?%20${key}%20=1`,
    ])
    expect(logged).toEqual([
      '/api/v1/operator/pools?foo=[redacted]',
      '/api/v1/operator/pools?api_key[]=[redacted]',
      '/api/v1/operator/pools?API_KEY=[redacted]&Key=[redacted]&key=[redacted]',
      '/api/v1/operator/devices?pool=[redacted]',
      '/api/v1/operator/devices?[redacted]=[redacted]',
      '/api/v1/operator/devices?[redacted]=[redacted]',
    ])
    expect(logged.join(' ')).not.toContain('SECRETQB')
    expect(logged.join(' ')).not.toContain(key)
  })

  it('redacts a key put in the path (issue 12 F7)', async () => {
    const key = STUB_KEY.key
    const logged = await loggedUrls([`/api/v1/operator/${key}/fleet`, `/api/v1/key=${key}?pool=gcl-pv`])
    expect(logged).toEqual(['/api/v1/operator/[redacted]/fleet', '/api/v1/[redacted]?pool=gcl-pv'])
    expect(logged.join(' ')).not.toContain(key)
  })

  it("keeps the values of the routes' own parameters", async () => {
    const url =
      '/api/v1/operator/quarantine/counts?pool=gcl-pv&from=2026-06-01T00:00:00Z&to=2026-06-02T00:00:00Z'
    expect(await loggedUrls([url, '/healthz'])).toEqual([url, '/healthz'])
  })
})
