import { describe, expect, it } from 'vitest'
import {
  decimalIntegerIssue,
  type IntegerParameter,
  integerParameters,
  strictIntegerIssues,
  UnboundedIntegerParameterError,
} from './strict-integers.ts'

const limit: IntegerParameter = { name: 'limit', minimum: 1n, maximum: 500n, repeated: false }
const epoch: IntegerParameter = {
  name: 'epoch',
  minimum: 0n,
  maximum: BigInt(Number.MAX_SAFE_INTEGER),
  repeated: false,
}
const signed: IntegerParameter = { name: 'delta', minimum: -10n, maximum: 10n, repeated: false }

describe('decimalIntegerIssue', () => {
  it('takes plain decimal digits within the range', () => {
    for (const v of ['1', '42', '500']) expect(decimalIntegerIssue(limit, v)).toBeUndefined()
    expect(decimalIntegerIssue(epoch, '0')).toBeUndefined()
    expect(decimalIntegerIssue(epoch, '9007199254740991')).toBeUndefined()
    for (const v of ['-10', '-1', '0', '10']) expect(decimalIntegerIssue(signed, v)).toBeUndefined()
  })

  it.each([
    '1e400',
    '1e2',
    '0x10',
    '0b1',
    '0o7',
    ' 1',
    '1 ',
    '\t1',
    '+5',
    '1.5',
    '1.0',
    '-0',
    '',
    '01',
    '007',
    'Infinity',
    'NaN',
    '1_000',
    '١٢', // Arabic-Indic digits
    '12abc',
  ])('refuses %j and says what to send', (v) => {
    const message = decimalIntegerIssue(limit, v)
    expect(message).toMatch(/from 1 to 500 in plain decimal digits/)
    expect(message).toMatch(/e\.g\. 1$/)
  })

  it('refuses values outside the range, compared exactly (no float rounding)', () => {
    expect(decimalIntegerIssue(limit, '0')).toBeDefined()
    expect(decimalIntegerIssue(limit, '501')).toBeDefined()
    expect(decimalIntegerIssue(epoch, '-1')).toBeDefined()
    // 2^53 parses to the same float as 2^53 - 1 + 1; exactly it is one past the maximum.
    expect(decimalIntegerIssue(epoch, '9007199254740992')).toBeDefined()
    expect(decimalIntegerIssue(epoch, '18446744073709551616')).toBeDefined()
    expect(decimalIntegerIssue(epoch, '9'.repeat(10_000))).toBeDefined()
    expect(decimalIntegerIssue(signed, '-11')).toBeDefined()
    expect(decimalIntegerIssue(signed, '-0')).toBeDefined()
  })
})

describe('integerParameters', () => {
  it('finds integer properties and arrays of integers, with their ranges', () => {
    const found = integerParameters({
      type: 'object',
      properties: {
        limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
        name: { type: 'string' },
        ids: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 9 } },
        tags: { type: 'array', items: { type: 'string' } },
      },
    })
    expect(found).toEqual([
      { name: 'limit', minimum: 1n, maximum: 500n, repeated: false },
      { name: 'ids', minimum: 0n, maximum: 9n, repeated: true },
    ])
    expect(integerParameters(undefined)).toEqual([])
  })

  it('refuses an integer parameter without a safe range (the route would not build)', () => {
    const of = (p: object) => () => integerParameters({ type: 'object', properties: { n: p } })
    expect(of({ type: 'integer', minimum: 0 })).toThrow(UnboundedIntegerParameterError)
    expect(of({ type: 'integer', maximum: 5 })).toThrow(/needs an integer minimum/)
    expect(of({ type: 'integer', minimum: 0, maximum: 2 ** 60 })).toThrow(/maximum/)
  })
})

describe('strictIntegerIssues', () => {
  it('names each offending value by its path; absent and plain values pass', () => {
    const ids: IntegerParameter = { name: 'ids', minimum: 0n, maximum: 9n, repeated: true }
    expect(strictIntegerIssues([limit, ids], {})).toEqual([])
    expect(strictIntegerIssues([limit, ids], { limit: '5', ids: ['1', '2'] })).toEqual([])
    expect(
      strictIntegerIssues([limit, ids], { limit: '0x10', ids: ['1', '1e1'] }).map((i) => i.instancePath),
    ).toEqual(['/limit', '/ids/1'])
    // A repeated scalar (?limit=1&limit=0x2) is checked item by item, then refused by the schema.
    expect(strictIntegerIssues([limit], { limit: ['1', '0x2'] }).map((i) => i.instancePath)).toEqual([
      '/limit',
    ])
  })
})
