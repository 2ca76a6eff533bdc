/**
 * Operator credentials in one request: a key in x-api-key and another in Authorization: Bearer
 * are refused, whichever is right (attack12e F9: x-api-key won, so a right x-api-key beside a
 * wrong bearer was 200 and the reverse 401). The same key in both is one key.
 */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STUB_KEY, stubApp } from './testing/stub-app.ts'

let app: FastifyInstance
const WRONG = 'not-the-key-0123456789abcdef'

beforeAll(async () => {
  app = await stubApp()
})

afterAll(async () => {
  await app?.close()
})

const fleet = async (headers: Record<string, string>) => {
  const res = await app.inject({ url: '/api/v1/operator/fleet', headers })
  return {
    status: res.statusCode,
    error:
      res.statusCode === 200
        ? undefined
        : (res.json().error as { code: string; message: string; hint: string }),
  }
}

describe('two credentials in one request (attack12e F9)', () => {
  it.each([
    ['a right x-api-key with a wrong bearer', STUB_KEY.key, WRONG],
    ['a wrong x-api-key with a right bearer', WRONG, STUB_KEY.key],
    ['two wrong keys', WRONG, `${WRONG}x`],
  ])('refuses %s with 400 CONFLICTING_CREDENTIALS, telling to send one', async (_what, header, bearer) => {
    const answer = await fleet({ 'x-api-key': header, authorization: `Bearer ${bearer}` })
    expect(answer.status).toBe(400)
    expect(answer.error?.code).toBe('CONFLICTING_CREDENTIALS')
    expect(answer.error?.hint).toContain('one')
    expect(JSON.stringify(answer.error)).not.toContain(STUB_KEY.key)
  })

  it('takes the same key in both, and either alone', async () => {
    expect((await fleet({ 'x-api-key': STUB_KEY.key, authorization: `bearer ${STUB_KEY.key}` })).status).toBe(
      200,
    )
    expect((await fleet({ 'x-api-key': STUB_KEY.key })).status).toBe(200)
    expect((await fleet({ authorization: `Bearer ${STUB_KEY.key}` })).status).toBe(200)
    expect((await fleet({ authorization: `Bearer ${WRONG}` })).error?.code).toBe('UNAUTHORIZED')
  })
})

describe('two Authorization or x-api-key headers (attack issue 12 F6)', () => {
  // Node keeps the first Authorization and drops the second (and joins two x-api-key), while a
  // proxy may take the last: refused, whichever is right, before the key is checked.
  it.each([
    [
      'two Authorization headers, the right key first',
      { authorization: [`Bearer ${STUB_KEY.key}`, `Bearer ${WRONG}`] },
      'authorization',
    ],
    [
      'two Authorization headers, the right key second',
      { authorization: [`Bearer ${WRONG}`, `Bearer ${STUB_KEY.key}`] },
      'authorization',
    ],
    [
      'the same Authorization twice',
      { authorization: [`Bearer ${STUB_KEY.key}`, `Bearer ${STUB_KEY.key}`] },
      'authorization',
    ],
    ['two x-api-key headers', { 'x-api-key': [STUB_KEY.key, STUB_KEY.key] }, 'x-api-key'],
  ])('refuses %s with 400 DUPLICATE_HEADER', async (_what, headers, header) => {
    for (const url of ['/api/v1/operator/fleet', '/api/v1/auditor/pools']) {
      // inject() sends each value of an array as a header of its own (rawHeaders), as a socket would.
      const res = await app.inject({ url, headers: headers as unknown as Record<string, string> })
      expect(res.statusCode, res.body).toBe(400)
      const { error } = res.json()
      expect(error.code).toBe('DUPLICATE_HEADER')
      expect(error.details).toEqual({ header })
      expect(error.hint).toContain('at most once')
      expect(res.body).not.toContain(STUB_KEY.key)
    }
  })
})
