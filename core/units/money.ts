/**
 * Money is a bigint count of base units of the payment token (a HKD stablecoin with 6 decimals:
 * 1 HKD = 1_000_000 units). Energy is an integer count of watt-hours. Every rounding rule that
 * turns energy into money is here, so the simulator's ground truth and the pipeline agree to
 * the unit.
 */
export const PAYMENT_TOKEN_DECIMALS = 6
export const UNITS_PER_TOKEN = 10n ** BigInt(PAYMENT_TOKEN_DECIMALS)

const WH_PER_KWH = 1000n

/** Revenue of `energyWh` at `pricePerKWhUnits`: floor(energyWh × price / 1000). */
export function revenueForEnergyUnits(energyWh: number | bigint, pricePerKWhUnits: bigint): bigint {
  const wh = BigInt(energyWh)
  if (wh < 0n) throw new RangeError(`energyWh must not be negative, got ${wh}`)
  if (pricePerKWhUnits < 0n)
    throw new RangeError(`pricePerKWhUnits must not be negative, got ${pricePerKWhUnits}`)
  return (wh * pricePerKWhUnits) / WH_PER_KWH
}

/** Formats base units as a decimal token amount, e.g. 1_500_000n → "1.500000". */
export function formatUnits(units: bigint, decimals = PAYMENT_TOKEN_DECIMALS): string {
  const negative = units < 0n
  const abs = negative ? -units : units
  const scale = 10n ** BigInt(decimals)
  const whole = abs / scale
  const fraction = (abs % scale).toString().padStart(decimals, '0')
  return `${negative ? '-' : ''}${whole}${decimals > 0 ? `.${fraction}` : ''}`
}

/** Parses a decimal token amount ("12.5") into base units without going through a float. */
export function parseUnits(text: string, decimals = PAYMENT_TOKEN_DECIMALS): bigint {
  const match = /^(-)?(\d+)(?:\.(\d+))?$/.exec(text.trim())
  if (!match) throw new RangeError(`not a decimal amount: ${JSON.stringify(text)}`)
  const [, sign, whole = '0', fraction = ''] = match
  if (fraction.length > decimals) throw new RangeError(`${text} has more than ${decimals} decimals`)
  const units = BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0')
  return sign ? -units : units
}
