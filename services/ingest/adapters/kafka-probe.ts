/**
 * Asks Kafka for the topics' metadata every few seconds, so /healthz knows whether Kafka answers
 * even when no record is being produced. The admin client does not retry by itself: one failed
 * round is one failed probe.
 */
import type { Admin } from 'kafkajs'
import type { Logger } from '../../../runtime/log.ts'

export interface KafkaProbe {
  /** Since when probes fail, ms; undefined while the last one succeeded. */
  readonly failingSinceMs: number | undefined
  stop(): void
}

export function startKafkaProbe(
  admin: Admin,
  options: { readonly topics: readonly string[]; readonly intervalMs: number },
  logger: Logger,
  onChange: (reachable: boolean) => void = () => undefined,
): KafkaProbe {
  let failingSinceMs: number | undefined
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const round = async () => {
    try {
      await Promise.race([
        admin.fetchTopicMetadata({ topics: [...options.topics] }),
        new Promise((_, reject) =>
          setTimeout(
            () => reject(new Error(`no answer in ${options.intervalMs} ms`)),
            options.intervalMs,
          ).unref(),
        ),
      ])
      if (failingSinceMs !== undefined) {
        logger.info({ downForMs: Date.now() - failingSinceMs }, 'kafka answers again')
        onChange(true)
      }
      failingSinceMs = undefined
    } catch (error) {
      if (failingSinceMs === undefined) {
        failingSinceMs = Date.now()
        logger.warn({ err: error }, 'kafka metadata probe failed')
        onChange(false)
      }
    }
    if (!stopped) timer = setTimeout(round, options.intervalMs)
  }
  timer = setTimeout(round, options.intervalMs)
  return {
    get failingSinceMs() {
      return failingSinceMs
    },
    stop() {
      stopped = true
      clearTimeout(timer)
    },
  }
}
