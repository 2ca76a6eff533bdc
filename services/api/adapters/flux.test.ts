import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  fluxString,
  fluxTime,
  lastSeenFlux,
  quarantinePageFlux,
  revenueRollupFlux,
  revenueSeriesFlux,
  UnsafeFluxValueError,
} from './flux.ts'

const plan = {
  fromMs: Date.UTC(2026, 5, 1),
  toMs: Date.UTC(2026, 5, 2),
  resolutionMs: 3_600_000,
  offsetMs: 0,
  windows: 24,
}

describe('Flux built from validated parameters', () => {
  it('writes only times Flux can parse: 1970..9999, never a six-digit year', () => {
    expect(fluxTime(Date.UTC(2099, 11, 31))).toBe('2099-12-31T00:00:00.000Z')
    expect(fluxTime(Date.UTC(9999, 11, 31, 23, 59, 59, 999))).toBe('9999-12-31T23:59:59.999Z')
    for (const ms of [Date.UTC(10_000, 0, 1), -1, 8.64e15, 1.5]) {
      expect(() => fluxTime(ms)).toThrow(UnsafeFluxValueError)
    }
  })

  it('refuses any string that could leave its literal or interpolate', () => {
    for (const hostile of ['a"b', 'a\\b', `\${x}`, 'a\nb', 'r) |> drop(', "a'b"]) {
      expect(() => fluxString(hostile)).toThrow(UnsafeFluxValueError)
    }
    expect(fluxString('gridroot/autogen')).toBe('"gridroot/autogen"')
  })

  it('never lets an arbitrary string into a query unescaped', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        let query: string | undefined
        try {
          query = revenueSeriesFlux('b/autogen', plan, 'device', { devices: [value] })
        } catch (error) {
          expect(error).toBeInstanceOf(UnsafeFluxValueError)
          return
        }
        // Accepted values hold only safe characters and appear exactly inside one literal.
        expect(value).toMatch(/^[A-Za-z0-9._:/ -]*$/)
        expect(query).toContain(`r.device == "${value}"`)
      }),
    )
  })

  it('sums per window with the grid offset and stops one millisecond before the end', () => {
    const q = revenueSeriesFlux('b/autogen', { ...plan, offsetMs: 1_800_000 }, 'pool', {
      pools: ['p1', 'p2'],
    })
    expect(q).toContain('stop: 2026-06-01T23:59:59.999Z')
    expect(q).toContain('window(every: 3600000ms, offset: 1800000ms)')
    expect(q).toContain('r.pool == "p1" or r.pool == "p2"')
    expect(q).toContain('group(columns: ["pool", "_field"])')
  })

  it('reads pool and class sums from the rollups of the aggregator group, filters validated', () => {
    const q = revenueRollupFlux('b/autogen', 'agg-1', plan, 'class', { pools: ['p1'], classes: ['pv'] })
    expect(q).toContain('r._measurement == "revenue_rollup" and r.group == "agg-1"')
    expect(q).toContain('r.pool == "p1"')
    expect(q).toContain('r.class == "pv"')
    expect(q).toContain('group(columns: ["class", "_field"])')
    expect(q).not.toContain('"interval"')
    expect(() => revenueRollupFlux('b', 'agg") |> drop(', plan, 'pool', {})).toThrow(UnsafeFluxValueError)
    expect(() => revenueRollupFlux('b', 'agg', plan, 'pool', { pools: ['p"'] })).toThrow(UnsafeFluxValueError)
  })

  it('bounds pages with integers only', () => {
    const filter = { range: { fromMs: plan.fromMs, toMs: plan.toMs } }
    expect(quarantinePageFlux('b', filter, 10, 50)).toContain('limit(n: 50, offset: 10)')
    expect(() => quarantinePageFlux('b', filter, -1, 50)).toThrow(UnsafeFluxValueError)
    expect(() => quarantinePageFlux('b', filter, 0, 1.5)).toThrow(UnsafeFluxValueError)
    expect(lastSeenFlux('b', 'group-1')).toContain('r.group == "group-1"')
  })
})
