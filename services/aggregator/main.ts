/** Entry point of the aggregator: configuration from the environment, signals, nothing else. */
import { createLogger } from '../../runtime/log.ts'
import { runService } from '../../runtime/run-service.ts'
import { aggregatorConfigFromEnv } from './config.ts'
import { startAggregatorService } from './service.ts'

const logger = createLogger('aggregator')
runService(logger, () => startAggregatorService(aggregatorConfigFromEnv(process.env), logger))
