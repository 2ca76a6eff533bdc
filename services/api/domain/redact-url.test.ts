import { describe, expect, it } from 'vitest'
import { REDACTED, redactUrl } from './redact-url.ts'

describe('redactUrl', () => {
  it('keeps credentials in the query string out of the log', () => {
    expect(redactUrl('/api/v1/operator/clock?key=abc123')).toBe(`/api/v1/operator/clock?key=${REDACTED}`)
    expect(redactUrl('/x?pool=a&API_KEY=s&x-api-key=t&token=u&from=1')).toBe(
      `/x?pool=a&API_KEY=${REDACTED}&x-api-key=${REDACTED}&token=${REDACTED}&from=1`,
    )
    expect(redactUrl('/x?%6Bey=s')).toBe(`/x?%6Bey=${REDACTED}`)
    expect(redactUrl('/x?key')).toBe(`/x?key=${REDACTED}`)
  })
  it('leaves other parameters and paths alone', () => {
    expect(redactUrl('/api/v1/operator/revenue?pool=gcl-pv&from=2026-06-01T00:00:00Z')).toBe(
      '/api/v1/operator/revenue?pool=gcl-pv&from=2026-06-01T00:00:00Z',
    )
    expect(redactUrl('/healthz')).toBe('/healthz')
    expect(redactUrl('/x?monkey=1&%E0%A4%A=2')).toBe('/x?monkey=1&%E0%A4%A=2')
  })
})
