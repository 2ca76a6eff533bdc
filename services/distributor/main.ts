/** Entry point of the distributor: configuration from the environment, signals, nothing else. */
import { createLogger } from '../../runtime/log.ts'
import { runService } from '../../runtime/run-service.ts'
import { distributorConfigFromEnv } from './config.ts'
import { startDistributorService } from './service.ts'

const logger = createLogger('distributor')
runService(logger, () => startDistributorService(distributorConfigFromEnv(process.env), logger))
