import { describe, expect, it } from 'vitest'
import { bool, int, str } from '../domain/points.ts'
import { toLineProtocol } from './line-protocol.ts'

describe('toLineProtocol', () => {
  it('sorts and escapes tags, types fields, keeps nanoseconds', () => {
    expect(
      toLineProtocol({
        measurement: 'interval',
        tags: { pool: 'gcl pv', device: 'pv,1=x' },
        fields: {
          energyWh: int(12),
          revenueUnits: int(123456789012345678n),
          note: str('a "b" \\c'),
          ok: bool(true),
        },
        timeNs: 1_780_000_000_000_000_123n,
      }),
    ).toBe(
      'interval,device=pv\\,1\\=x,pool=gcl\\ pv energyWh=12i,revenueUnits=123456789012345678i,note="a \\"b\\" \\\\c",ok=true 1780000000000000123',
    )
  })
})
