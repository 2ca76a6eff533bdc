/**
 * Structured logs (pino): one JSON object per line with a `msg`, never interpolated strings.
 * `GRIDROOT_LOG_LEVEL` sets the level; `GRIDROOT_LOG_PRETTY=1` is not offered on purpose: pipe
 * through `npx pino-pretty` if you want colour.
 */
import { type Logger, pino } from 'pino'

export type { Logger }

export function createLogger(service: string, level = process.env.GRIDROOT_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: service, level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime })
}
