import { describe, expect, it } from 'vitest'
import { REDACTED, redactUrl } from './redact-url.ts'

const KEY = 'k'.repeat(24)
const rules = { declared: new Set(['pool', 'from']), isKey: (text: string) => text === KEY }

describe('redactUrl', () => {
  it('logs values of declared parameters only, and never a key', () => {
    expect(redactUrl('/x?key=abc123', rules)).toBe(`/x?key=${REDACTED}`)
    expect(redactUrl('/x?pool=a&API_KEY=s&x-api-key[]=t&from=1', rules)).toBe(
      `/x?pool=a&API_KEY=${REDACTED}&x-api-key[]=${REDACTED}&from=1`,
    )
    expect(redactUrl(`/x?pool=${KEY}&pool=%20${KEY}`, rules)).toBe(`/x?pool=${REDACTED}&pool=${REDACTED}`)
    expect(redactUrl(`/x?${KEY}`, rules)).toBe(`/x?${REDACTED}=${REDACTED}`)
    expect(redactUrl('/x?key', rules)).toBe(`/x?key=${REDACTED}`)
    expect(redactUrl('/x?%E0%A4%A=2&&', rules)).toBe(`/x?%E0%A4%A=${REDACTED}&&`)
  })
  it('leaves paths without a key alone', () => {
    expect(redactUrl('/healthz', rules)).toBe('/healthz')
    expect(redactUrl(`/api/v1/auditor/artifacts/0x${'ab'.repeat(32)}`, rules)).toBe(
      `/api/v1/auditor/artifacts/0x${'ab'.repeat(32)}`,
    )
  })
  it('redacts a path segment that is or holds a key (issue 12 F7)', () => {
    expect(redactUrl(`/api/v1/operator/${KEY}/fleet?pool=a`, rules)).toBe(
      `/api/v1/operator/${REDACTED}/fleet?pool=a`,
    )
    expect(redactUrl(`/x/key=${KEY}`, rules)).toBe(`/x/${REDACTED}`)
    expect(redactUrl(`/x/Bearer%20${KEY}/y`, rules)).toBe(`/x/${REDACTED}/y`)
    expect(redactUrl(`/${encodeURIComponent(KEY)}`, rules)).toBe(`/${REDACTED}`)
  })
})
