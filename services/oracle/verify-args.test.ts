import { describe, expect, it } from 'vitest'
import { parseVerifyArgs } from './verify-args.ts'

const base = ['--pool', 'gcl-pv', '--device', 'pv-000001']

describe('parseVerifyArgs (attack10a F4, attack10b F11)', () => {
  it('takes a decimal epoch, a pool id and a device id', () => {
    expect(parseVerifyArgs([...base, '--epoch', '16', '--json'])).toEqual({
      status: 'args',
      args: { poolId: 'gcl-pv', deviceId: 'pv-000001', epoch: 16, json: true },
    })
    expect(parseVerifyArgs([...base, '--epoch', '9007199254740991'])).toMatchObject({
      args: { epoch: Number.MAX_SAFE_INTEGER },
    })
  })

  it.each(['abc', '1.5', '-1', '0x10', '1e3', ' 7', '', '99999999999999999999', '9007199254740992'])(
    'refuses --epoch=%j as a usage error naming the option',
    (epoch) => {
      const parsed = parseVerifyArgs([...base, `--epoch=${epoch}`])
      expect(parsed.status).toBe('usage')
      expect(parsed.status === 'usage' && parsed.problem).toContain(
        '--epoch must be a non-negative decimal integer',
      )
    },
  )

  it('refuses "--epoch -1" (a value that reads as an option) and unknown options', () => {
    expect(parseVerifyArgs([...base, '--epoch', '-1'])).toMatchObject({ status: 'usage' })
    expect(parseVerifyArgs([...base, '--epoch', '1', '--bogus'])).toMatchObject({
      status: 'usage',
      problem: "Unknown option '--bogus'",
    })
  })

  it('refuses a pool or device that is no id', () => {
    expect(parseVerifyArgs(['--pool', 'GCL PV', '--device', 'pv-1', '--epoch', '1'])).toMatchObject({
      status: 'usage',
      problem: expect.stringContaining('--pool must be a pool id'),
    })
    expect(parseVerifyArgs(['--pool', 'gcl-pv', '--device', '../x', '--epoch', '1'])).toMatchObject({
      status: 'usage',
      problem: expect.stringContaining('--device must be a device id'),
    })
  })

  it('is usage without a problem when an option is missing, and help on --help', () => {
    expect(parseVerifyArgs(base)).toEqual({ status: 'usage', problem: undefined })
    expect(parseVerifyArgs(['-h'])).toEqual({ status: 'help' })
  })
})
