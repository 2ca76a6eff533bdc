/** Entry point of an oracle process (signer or submitter): configuration from the environment. */
import { createLogger } from '../../runtime/log.ts'
import { runService } from '../../runtime/run-service.ts'
import { oracleConfigFromEnv } from './config.ts'
import { startOracleService } from './service.ts'

const logger = createLogger('oracle')
runService(logger, () => startOracleService(oracleConfigFromEnv(process.env), logger))
