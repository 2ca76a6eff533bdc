/**
 * The command line of `npm run verify`, validated before anything is read: a value that is not
 * what the option takes is a usage error (exit 2) naming the option, never a stack trace or a
 * silently different epoch (attack10a F4, attack10b F11: `--epoch 0x10` checked epoch 16).
 */
import { parseArgs } from 'node:util'
import { POOL_ID_PATTERN } from '../../core/merkle/pool-id.ts'
import { DEVICE_ID_PATTERN } from '../../core/telemetry/topic.ts'

export interface VerifyArgs {
  readonly poolId: string
  readonly deviceId: string
  readonly epoch: number
  readonly json: boolean
}

export type VerifyArgsParse =
  | { readonly status: 'args'; readonly args: VerifyArgs }
  | { readonly status: 'help' }
  | { readonly status: 'usage'; readonly problem: string | undefined }

/**
 * Epochs are uint64 on-chain; verify takes plain decimal digits up to 2^53 - 1, where a JS number
 * stops being exact (the API's audit route takes the same range).
 */
const EPOCH_DIGITS = /^[0-9]{1,16}$/

export function parseVerifyArgs(argv: readonly string[]): VerifyArgsParse {
  let values: { pool?: string; device?: string; epoch?: string; json?: boolean; help?: boolean }
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        pool: { type: 'string' },
        device: { type: 'string' },
        epoch: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }))
  } catch (error) {
    // node:util's own message (unknown option, a value starting with a dash), first line only.
    return { status: 'usage', problem: String((error as Error).message).split('\n')[0] }
  }
  if (values.help) return { status: 'help' }
  if (values.pool === undefined || values.device === undefined || values.epoch === undefined)
    return { status: 'usage', problem: undefined }
  if (!POOL_ID_PATTERN.test(values.pool))
    return {
      status: 'usage',
      problem: `--pool must be a pool id (${POOL_ID_PATTERN.source}), got ${JSON.stringify(values.pool)}`,
    }
  if (!DEVICE_ID_PATTERN.test(values.device))
    return {
      status: 'usage',
      problem: `--device must be a device id (${DEVICE_ID_PATTERN.source}), got ${JSON.stringify(values.device)}`,
    }
  const epoch = Number(values.epoch)
  if (!EPOCH_DIGITS.test(values.epoch) || !Number.isSafeInteger(epoch))
    return {
      status: 'usage',
      problem: `--epoch must be a non-negative decimal integer of at most ${Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(values.epoch)}`,
    }
  return {
    status: 'args',
    args: { poolId: values.pool, deviceId: values.device, epoch, json: values.json === true },
  }
}
