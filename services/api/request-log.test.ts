/**
 * Fastify's own request log, through the logger the API hands it (app.ts withRedactedUrls): a
 * key sent in the query string never reaches the log (attack12b F1).
 */
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { Logger } from '../../runtime/log.ts'
import { withRedactedUrls } from './app.ts'

describe('the API request log', () => {
  it('redacts credentials in the query string, keeps the rest of the URL', async () => {
    let written = ''
    const sink = new Writable({
      write(chunk, _encoding, done) {
        written += chunk.toString()
        done()
      },
    })
    const logger = pino({ level: 'info' }, sink) as unknown as Logger
    const app = Fastify({ loggerInstance: withRedactedUrls(logger) })
    app.get('/api/v1/operator/clock', async () => ({ ok: true }))
    await app.ready()
    await app.inject({ url: '/api/v1/operator/clock?pool=gcl-pv&key=s3cr3t-operator-key' })
    await app.close()
    expect(written).toContain('"url":"/api/v1/operator/clock?pool=gcl-pv&key=[redacted]"')
    expect(written).toContain('incoming request')
    expect(written).not.toContain('s3cr3t-operator-key')
  })
})
