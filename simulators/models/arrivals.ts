import type { Rng } from '../../core/random/prng.ts'
import { HOUR_MS, localHour } from './device-model.ts'

/**
 * The next arrival after `fromMs` of a Poisson process whose rate follows a daily profile
 * (arrivals per hour at each local hour, times `scale`), by thinning: draw at the peak rate,
 * keep each draw with probability rate(t) / peak.
 */
export function nextArrivalMs(
  rng: Rng,
  fromMs: number,
  perHourProfile: readonly number[],
  scale: number,
): number {
  const maxRate = Math.max(...perHourProfile) * scale
  let t = fromMs
  for (;;) {
    t += rng.exponential(HOUR_MS / maxRate)
    const rate = (perHourProfile[Math.floor(localHour(t))] ?? 0) * scale
    if (rng.next() * maxRate <= rate) return Math.round(t)
  }
}
