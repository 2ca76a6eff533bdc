/**
 * Deterministic pseudo-random numbers (sfc32 seeded through SHA-256), so a simulated fleet is a
 * pure function of its seed: same seed, same readings, same ground truth, same roots.
 */
import { createHash } from 'node:crypto'

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number
  chance(probability: number): boolean
  /** Normal(mean, sd), Box–Muller. */
  normal(mean: number, sd: number): number
  /** Exponential waiting time with the given mean. */
  exponential(mean: number): number
  pick<T>(items: readonly T[]): T
}

export function createRng(...seedParts: readonly (string | number)[]): Rng {
  const digest = createHash('sha256').update(seedParts.join('\u0000')).digest()
  let a = digest.readUInt32LE(0)
  let b = digest.readUInt32LE(4)
  let c = digest.readUInt32LE(8)
  let d = digest.readUInt32LE(12)
  const next = (): number => {
    a >>>= 0
    b >>>= 0
    c >>>= 0
    d >>>= 0
    let t = (a + b) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    d = (d + 1) | 0
    t = (t + d) | 0
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  for (let i = 0; i < 12; i++) next()
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => p > 0 && next() < p,
    normal: (mean, sd) => {
      const u = Math.max(next(), Number.EPSILON)
      return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next())
    },
    exponential: (mean) => -mean * Math.log(Math.max(1 - next(), Number.EPSILON)),
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick from an empty list')
      return items[Math.floor(next() * items.length)] as (typeof items)[number]
    },
  }
  return rng
}
