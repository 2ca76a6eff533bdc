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
