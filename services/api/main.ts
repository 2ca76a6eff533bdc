/** Entry point of the API: configuration from the environment, signals, nothing else. */
import { createLogger } from '../../runtime/log.ts'
import { runService } from '../../runtime/run-service.ts'
import { apiConfigFromEnv } from './config.ts'
import { startApiServer } from './server.ts'

const logger = createLogger('api')
runService(logger, () => startApiServer(apiConfigFromEnv(process.env), logger))
