/** Entry point of the ingest service: configuration from the environment, signals, nothing else. */
import { createLogger } from '../../runtime/log.ts'
import { runService } from '../../runtime/run-service.ts'
import { ingestConfigFromEnv } from './config.ts'
import { startIngestService } from './service.ts'

const logger = createLogger('ingest')
runService(logger, () =>
  startIngestService(ingestConfigFromEnv(process.env), logger, {
    // The sink has logged what to fix. Unacknowledged messages stay with the MQTT broker.
    onFatal: () => process.exit(1),
  }),
)
