/** Entry point of an oracle process (signer, submitter or guardian): configuration from the environment. */
import { createLogger } from '../../runtime/log.ts'
import { runService } from '../../runtime/run-service.ts'
import { oracleConfigFromEnv } from './config.ts'
import { startGuardianService } from './guardian.ts'
import { startOracleService } from './service.ts'

const logger = createLogger('oracle')
runService(logger, () => {
  const config = oracleConfigFromEnv(process.env)
  return config.role === 'guardian'
    ? startGuardianService(config, logger)
    : startOracleService(config, logger)
})
