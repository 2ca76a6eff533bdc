/**
 * Ingest as services/ingest/main.ts starts it, with admission workers that fail on purpose
 * (./faulty-admit-worker.mjs): for the tests of what /healthz says about them.
 */
import { createLogger } from '../../../runtime/log.ts'
import { runService } from '../../../runtime/run-service.ts'
import { ingestConfigFromEnv } from '../../../services/ingest/config.ts'
import { startIngestService } from '../../../services/ingest/service.ts'

const logger = createLogger('ingest')
runService(logger, () =>
  startIngestService(ingestConfigFromEnv(process.env), logger, {
    onFatal: () => process.exit(1),
    admitWorkerUrl: new URL('./faulty-admit-worker.mjs', import.meta.url),
  }),
)
