import { describe, expect, it } from 'vitest'
import { CONFLICTING_KEYS, createKeyMatcher, presentedKey } from './api-keys.ts'

describe('API keys', () => {
  const match = createKeyMatcher([
    { clientId: 'ops', key: 'a'.repeat(24) },
    { clientId: 'ci', key: 'b'.repeat(30) },
  ])
  it('finds the client of an exact key only', () => {
    expect(match('a'.repeat(24))).toBe('ops')
    expect(match('b'.repeat(30))).toBe('ci')
    expect(match('a'.repeat(23))).toBeUndefined()
    expect(match('a'.repeat(25))).toBeUndefined()
    expect(match('')).toBeUndefined()
    expect(match(undefined)).toBeUndefined()
  })
  it('reads x-api-key or a bearer token', () => {
    expect(presentedKey({ 'x-api-key': 'k' })).toBe('k')
    expect(presentedKey({ authorization: 'Bearer  k2 ' })).toBe('k2')
    expect(presentedKey({ authorization: 'Basic k2' })).toBeUndefined()
  })
  it('reads two different keys as conflicting, the same key twice as that key', () => {
    expect(presentedKey({ 'x-api-key': 'k', authorization: 'Bearer k2' })).toBe(CONFLICTING_KEYS)
    expect(presentedKey({ 'x-api-key': 'k2', authorization: 'bearer k' })).toBe(CONFLICTING_KEYS)
    expect(presentedKey({ 'x-api-key': 'k', authorization: 'Bearer k' })).toBe('k')
    // Another scheme carries no API key: nothing conflicts with it.
    expect(presentedKey({ 'x-api-key': 'k', authorization: 'Basic k2' })).toBe('k')
  })
  it('matches nothing when no keys are configured', () => {
    expect(createKeyMatcher([])('anything-at-all-long-enough')).toBeUndefined()
  })
})
