/**
 * Tariff models per asset class, in base units of the payment token, integer arithmetic only.
 *
 * - charger: energy × (time-of-use electricity price + service fee) per kWh
 * - pv:      exported energy × feed-in tariff (or PPA price) per kWh
 * - swap:    swaps × fee per swap + energy handed out × price per kWh
 *
 * A tariff has versions, each effective from a device time on; a change never rewrites the
 * past. Prices apply per interval (the revenue series' resolution), looked up at the interval's
 * start, so version changes and time-of-use periods must fall on interval boundaries: the
 * validation below insists, and then no interval straddles two prices.
 */
import { z } from 'zod'
import type { TimeGrid } from '../epochs/grid.ts'
import { ConfigError } from '../errors/base.ts'
import { revenueForEnergyUnits } from '../units/money.ts'

const units = z
  .union([z.string().regex(/^\d+$/), z.number().int().nonnegative()])
  .transform((v) => BigInt(v))
  .describe('base units of the payment token (1 HKD = 1000000)')

const TouPeriodSchema = z.strictObject({
  /** Local hour at which this price starts, 0–23; it runs until the next period's start. */
  fromHour: z.number().int().min(0).max(23),
  pricePerKWhUnits: units,
})

const ChargerTariffSchema = z.strictObject({
  kind: z.literal('charger'),
  touPeriods: z.array(TouPeriodSchema).min(1),
  serviceFeePerKWhUnits: units,
})
const PvTariffSchema = z.strictObject({ kind: z.literal('pv'), feedInPerKWhUnits: units })
const SwapTariffSchema = z.strictObject({
  kind: z.literal('swap'),
  perSwapUnits: units,
  energyPerKWhUnits: units,
})

const TariffTermsSchema = z.discriminatedUnion('kind', [
  ChargerTariffSchema,
  PvTariffSchema,
  SwapTariffSchema,
])
export type TariffTerms = z.infer<typeof TariffTermsSchema>

const TariffVersionSchema = z.intersection(
  z.object({ effectiveFrom: z.string().datetime({ offset: true }) }),
  TariffTermsSchema,
)

export const TariffBookSchema = z.strictObject({
  /** Offset of local time from UTC for time-of-use hours (Hong Kong: 8). */
  utcOffsetHours: z.number().int().min(-12).max(14).default(8),
  tariffs: z.record(z.string(), z.array(TariffVersionSchema).min(1)),
})
export type TariffBookInput = z.input<typeof TariffBookSchema>

export interface TariffVersion {
  readonly effectiveFromMs: number
  readonly terms: TariffTerms
}

export interface TariffBook {
  readonly utcOffsetHours: number
  /** Versions of each tariff, oldest first; time-of-use periods sorted by hour. */
  readonly tariffs: ReadonlyMap<string, readonly TariffVersion[]>
}

export function parseTariffBook(input: unknown, grid: TimeGrid): TariffBook {
  const parsed = TariffBookSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ConfigError(`the tariff book is invalid at ${issue?.path.join('.')}: ${issue?.message}`, {
      cause: parsed.error,
    })
  }
  const tariffs = new Map<string, TariffVersion[]>()
  for (const [tariffId, versions] of Object.entries(parsed.data.tariffs)) {
    const list = versions
      .map(({ effectiveFrom, ...terms }) => ({
        effectiveFromMs: Date.parse(effectiveFrom),
        terms: terms as TariffTerms,
      }))
      .sort((a, b) => a.effectiveFromMs - b.effectiveFromMs)
    for (const v of list) {
      if ((v.effectiveFromMs - grid.genesisMs) % grid.intervalMs !== 0) {
        throw new ConfigError(
          `tariff ${tariffId} changes at ${new Date(v.effectiveFromMs).toISOString()}, not on an interval boundary`,
          {
            metaMessages: [
              `Intervals are ${grid.intervalMs} ms from genesis ${new Date(grid.genesisMs).toISOString()}.`,
            ],
          },
        )
      }
      if (v.terms.kind === 'charger') {
        const hours = v.terms.touPeriods.map((p) => p.fromHour)
        if (new Set(hours).size !== hours.length)
          throw new ConfigError(`tariff ${tariffId} repeats a time-of-use hour`)
        if (3_600_000 % grid.intervalMs !== 0) {
          throw new ConfigError('time-of-use tariffs need an interval that divides an hour')
        }
      }
    }
    if (new Set(list.map((v) => v.terms.kind)).size > 1)
      throw new ConfigError(`tariff ${tariffId} changes its kind`)
    // Periods sorted once here: the revenue rule runs for every interval write.
    tariffs.set(
      tariffId,
      list.map((v) =>
        v.terms.kind === 'charger'
          ? {
              ...v,
              terms: {
                ...v.terms,
                touPeriods: [...v.terms.touPeriods].sort((a, b) => a.fromHour - b.fromHour),
              },
            }
          : v,
      ),
    )
  }
  return { utcOffsetHours: parsed.data.utcOffsetHours, tariffs }
}

export class UnknownTariffError extends ConfigError {
  constructor(tariffId: string, atMs: number) {
    super(`no tariff ${tariffId} in force at ${new Date(atMs).toISOString()}`, {
      metaMessages: ['Add the tariff (or an earlier version) to the tariff book (GRIDROOT_TARIFFS_FILE).'],
    })
  }
}

export function tariffAt(book: TariffBook, tariffId: string, atMs: number): TariffTerms {
  const versions = book.tariffs.get(tariffId) ?? []
  for (let i = versions.length - 1; i >= 0; i--) {
    const v = versions[i] as TariffVersion
    if (v.effectiveFromMs <= atMs) return v.terms
  }
  throw new UnknownTariffError(tariffId, atMs)
}

function localHourOf(book: TariffBook, atMs: number): number {
  const hourMs = 3_600_000
  return (((Math.floor(atMs / hourMs) + book.utcOffsetHours) % 24) + 24) % 24
}

/** What one interval of one device earns: the only revenue rule, used by every part. */
export function intervalRevenueUnits(
  book: TariffBook,
  tariffId: string,
  intervalStartMs: number,
  energyWh: number,
  swaps: number,
): bigint {
  const terms = tariffAt(book, tariffId, intervalStartMs)
  switch (terms.kind) {
    case 'charger': {
      const hour = localHourOf(book, intervalStartMs)
      const periods = terms.touPeriods
      // The period in force is the last one starting at or before the hour; before the first
      // start of the day, the last period of the previous day still runs.
      let period = periods.at(-1)
      for (const p of periods) if (p.fromHour <= hour) period = p
      const price = (period?.pricePerKWhUnits ?? 0n) + terms.serviceFeePerKWhUnits
      return revenueForEnergyUnits(energyWh, price)
    }
    case 'pv':
      return revenueForEnergyUnits(energyWh, terms.feedInPerKWhUnits)
    case 'swap':
      return BigInt(swaps) * terms.perSwapUnits + revenueForEnergyUnits(energyWh, terms.energyPerKWhUnits)
  }
}

/**
 * Illustrative Hong Kong tariffs for the demo pools (HKD, 6 decimals): peak/off-peak EV charging
 * with a service fee, a feed-in tariff at the upper band of the HK FiT scheme, and a per-swap fee.
 */
export const DEMO_TARIFF_BOOK: TariffBookInput = {
  utcOffsetHours: 8,
  tariffs: {
    'ev-tou': [
      {
        effectiveFrom: '2020-01-01T00:00:00+08:00',
        kind: 'charger',
        touPeriods: [
          { fromHour: 0, pricePerKWhUnits: '1100000' },
          { fromHour: 9, pricePerKWhUnits: '1650000' },
          { fromHour: 21, pricePerKWhUnits: '1300000' },
        ],
        serviceFeePerKWhUnits: '1200000',
      },
    ],
    'pv-fit': [{ effectiveFrom: '2020-01-01T00:00:00+08:00', kind: 'pv', feedInPerKWhUnits: '4000000' }],
    'swap-std': [
      {
        effectiveFrom: '2020-01-01T00:00:00+08:00',
        kind: 'swap',
        perSwapUnits: '6000000',
        energyPerKWhUnits: '900000',
      },
    ],
  },
}
