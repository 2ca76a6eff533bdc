/**
 * JSON Schemas shared by the routes. They validate every request (unknown parameters are
 * refused, not dropped) and every response, and they are the OpenAPI document.
 */
import { ASSET_CLASSES } from '../../core/telemetry/types.ts'
import { ERROR_RESPONSE_SCHEMA } from './errors.ts'

export const DEVICE_ID = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } as const
export const POOL_ID = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,31}$' } as const
export const ASSET_CLASS = { type: 'string', enum: [...ASSET_CLASSES] } as const
/** Reason codes are upper snake case (core/telemetry/reasons.ts, core/energy/meter-account.ts). */
export const REASON = { type: 'string', pattern: '^[A-Z][A-Z0-9_]{0,63}$' } as const
export const DATE_TIME = { type: 'string', format: 'date-time', maxLength: 40 } as const
/** Money in base units of the payment token (6 decimals), as a decimal string: it is a bigint. */
export const UNITS = { type: 'string', pattern: '^-?[0-9]+$' } as const
/**
 * The query string of a route that takes no parameters: any is refused (INVALID_PARAMETER), not
 * ignored. app.ts gives it to every GET route that declares no query string of its own.
 */
export const NO_QUERY = { type: 'object', additionalProperties: false, properties: {} } as const
export const MS = { type: 'integer', description: 'milliseconds since the Unix epoch' } as const

export const errorResponses = {
  400: ERROR_RESPONSE_SCHEMA,
  401: ERROR_RESPONSE_SCHEMA,
  404: ERROR_RESPONSE_SCHEMA,
  410: ERROR_RESPONSE_SCHEMA,
  429: ERROR_RESPONSE_SCHEMA,
  500: ERROR_RESPONSE_SCHEMA,
  503: ERROR_RESPONSE_SCHEMA,
} as const

export const OPERATOR_SECURITY = [{ apiKey: [] }] as const

/** `offset`/`limit` paging; the limit's maximum comes from the configured page size. */
export function pagingQuery(maxPageSize: number, defaultLimit = 50) {
  return {
    offset: { type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 0 },
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: maxPageSize,
      default: Math.min(defaultLimit, maxPageSize),
    },
  } as const
}

export const COUNTS = {
  type: 'object',
  required: ['devices', 'online', 'neverSeen'],
  additionalProperties: false,
  properties: {
    devices: { type: 'integer' },
    online: { type: 'integer' },
    neverSeen: { type: 'integer' },
  },
} as const
