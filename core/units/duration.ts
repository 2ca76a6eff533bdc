const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses "500ms", "30s", "5m", "2h", "1d" or a plain number of milliseconds. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim())
  if (!match)
    throw new RangeError(`not a duration: ${JSON.stringify(text)} (use e.g. 500ms, 30s, 5m, 2h, 1d)`)
  return Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1)
}

export function formatDurationMs(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
