import { expect, it } from 'vitest'
import { stringifyWithBigints } from './json.ts'

it('writes bigints as exact decimal strings', () => {
  expect(stringifyWithBigints({ units: 2n ** 64n + 1n, n: 1 })).toBe('{"units":"18446744073709551617","n":1}')
})
