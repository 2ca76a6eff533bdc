/**
 * Entry point of the ingest service: configuration from the environment, signals, nothing else.
 * `--retire` drains and ends every persistent MQTT session of this GRIDROOT_INGEST_INSTANCE and
 * GRIDROOT_INGEST_SHARED_GROUP (their messages reach Kafka), then exits: for an instance that
 * goes away for good (README, "Configuration").
 */
import { createLogger } from '../../runtime/log.ts'
import { runService } from '../../runtime/run-service.ts'
import { ingestConfigFromEnv } from './config.ts'
import { startIngestService } from './service.ts'

const logger = createLogger('ingest')
const retire = process.argv.includes('--retire')
runService(logger, async () => {
  const service = await startIngestService(ingestConfigFromEnv(process.env), logger, {
    // The sink has logged what to fix. Unacknowledged messages stay with the MQTT broker.
    onFatal: () => process.exit(1),
    retire,
  })
  if (retire) {
    // Start-up has drained and ended the sessions (or failed, and exits 1 with the code).
    await service.stop()
    logger.info('ingest instance retired: its sessions are drained and ended')
    process.exit(0)
  }
  return service
})
