/**
 * A what-if variable of the benchmarks: `NAME_A=v NAME_B=w` (space-separated) parsed into the
 * settings handed to the subject process, each name checked against `names`.
 */
import { z } from 'zod'

export function settingsList(names: RegExp) {
  return z
    .string()
    .default('')
    .transform((text) =>
      Object.fromEntries(
        text
          .split(/\s+/)
          .filter(Boolean)
          .map((kv) => kv.split('=', 2)),
      ),
    )
    .pipe(z.record(z.string().regex(names), z.string()))
}
