/**
 * The shared shape of a service's `main.ts`: start, then on SIGINT/SIGTERM stop gracefully once
 * (a second signal exits at once). Start-up failures are printed with their code and hints.
 */
import { GridrootError } from '../core/errors/base.ts'
import { errorFields } from './chain/log-error.ts'
import type { Logger } from './log.ts'

/** Longest a graceful stop may take (ingest drains for up to 10 s by default). */
const STOP_DEADLINE_MS = 30_000

export function runService(logger: Logger, start: () => Promise<{ stop(): Promise<void> }>): void {
  if (process.argv.includes('--help')) {
    console.log('Configuration comes from the environment; see .env.example and README.md ("Configuration").')
    return
  }
  start().then(
    (service) => {
      let stopping = false
      const stop = (signal: string) => {
        if (stopping) process.exit(130)
        stopping = true
        logger.info({ signal }, 'stopping')
        // A stop that hangs (a broker gone for good) must not leave the process behind.
        setTimeout(() => {
          logger.error({ stopDeadlineMs: STOP_DEADLINE_MS }, 'graceful stop took too long; exiting')
          process.exit(1)
        }, STOP_DEADLINE_MS).unref()
        service.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ error: errorFields(error) }, 'stop failed')
            process.exit(1)
          },
        )
      }
      process.on('SIGINT', () => stop('SIGINT'))
      process.on('SIGTERM', () => stop('SIGTERM'))
    },
    (error: unknown) => {
      if (error instanceof GridrootError) {
        logger.fatal(
          {
            code: error.code,
            hints: error.metaMessages,
            ...(error.cause === undefined ? {} : { error: errorFields(error.cause) }),
          },
          error.shortMessage,
        )
      } else {
        logger.fatal({ error: errorFields(error) }, 'start-up failed')
      }
      process.exit(1)
    },
  )
}
