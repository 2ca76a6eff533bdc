/**
 * Every error the API answers with, in one registry: a stable code (never renamed: clients
 * switch on it), its HTTP status and what the caller should do. The body is always
 * `{"error":{"code","message","hint","details"?}}` (ERROR_RESPONSE_SCHEMA).
 */
import { GridrootError } from '../../core/errors/base.ts'

export const API_ERRORS = {
  UNAUTHORIZED: {
    status: 401,
    hint: 'Send an operator API key in the x-api-key header (or Authorization: Bearer <key>); keys come from GRIDROOT_API_KEYS.',
  },
  CONFLICTING_CREDENTIALS: {
    status: 400,
    hint: 'Send one operator API key, in x-api-key or in Authorization: Bearer <key>; the same key in both is taken, two different keys never are.',
  },
  DUPLICATE_HEADER: {
    status: 400,
    hint: 'Send each of Host, Authorization and x-api-key at most once (details.header names the one sent twice): with two, a proxy and this server may each take a different one.',
  },
  RATE_LIMITED: {
    status: 429,
    hint: 'Wait for the number of seconds in the retry-after header, then send fewer requests per window.',
  },
  INVALID_URL: {
    status: 400,
    hint: 'Percent-encode the path and the query string (a % takes two hex digits after it); the routes are listed at /docs.',
  },
  INVALID_BODY: {
    status: 400,
    hint: 'Send the body as one JSON document with content-type: application/json; the OpenAPI document at /docs/json has its schema.',
  },
  INVALID_PARAMETER: {
    status: 400,
    hint: 'Fix the named parameter; the OpenAPI document at /docs/json lists every parameter with its range.',
  },
  INVALID_RANGE: {
    status: 400,
    hint: 'Send from < to, both RFC 3339 date-times with an offset (e.g. 2026-06-01T00:00:00Z).',
  },
  BODY_TOO_LARGE: {
    status: 413,
    hint: 'Send a request body of at most details.maxBytes bytes (the API takes small JSON bodies only).',
  },
  RANGE_TOO_LARGE: {
    status: 400,
    hint: 'Ask for less: details say the largest allowed (a shorter range, fewer epochs or series).',
  },
  RESOLUTION_OFF_GRID: {
    status: 400,
    hint: 'Choose a resolution that is a whole multiple of the interval of the revenue series (details.intervalMs).',
  },
  DEVICES_REQUIRED: {
    status: 400,
    hint: 'groupBy=device needs the devices to chart: add device=<id> (repeat it, up to the limit in details).',
  },
  OFFSET_TOO_DEEP: {
    status: 400,
    hint: 'Narrow the time range instead of paging this deep (details.maxOffset).',
  },
  UNKNOWN_DEVICE: { status: 404, hint: 'Use a deviceId from GET /api/v1/operator/devices.' },
  UNKNOWN_POOL: { status: 404, hint: 'Use a poolId from GET /api/v1/operator/pools.' },
  UNKNOWN_PARTITION: { status: 404, hint: 'Use a partition listed by GET /api/v1/operator/dlq/counts.' },
  OFFSET_EVICTED: {
    status: 410,
    hint: 'This API instance keeps only the newest DLQ records (GRIDROOT_API_DLQ_RETAIN); start from details.oldestOffset, or read the topic with a Kafka client.',
  },
  NOT_FOUND: {
    status: 404,
    hint: 'Use a path the API serves: the routes are listed at /docs (OpenAPI at /docs/json), the dashboard is at /.',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    hint: 'Send one of the methods in the allow header (details.allow); /docs lists each route with its method.',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    hint: 'The request line (URL) or headers are too long: the request line and the headers together must fit in details.maxBytes. Shorten the URL (its query string), or send fewer or smaller headers (cookies count).',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    hint: 'Send the whole request (headers and body) without pausing; retry it on a new connection.',
  },
  MALFORMED_REQUEST: {
    status: 400,
    hint: 'The bytes received are not an HTTP/1.1 request this server can parse: send a well-formed request (an HTTP client library does).',
  },
  UNKNOWN_HOLDER_POOL: { status: 404, hint: 'Use a poolId listed by GET /api/v1/holder/pools.' },
  ARTIFACT_UNAVAILABLE: {
    status: 503,
    hint: "A published tree or readings archive the chain names is not in this API's artifact store: point GRIDROOT_ARTIFACT_DIR at the store the oracle and the distributor publish to.",
  },
  UNKNOWN_AUDIT_POOL: { status: 404, hint: 'Use a poolId listed by GET /api/v1/auditor/pools.' },
  UNKNOWN_AUDIT_DEVICE: {
    status: 404,
    hint: 'Use a deviceId listed by GET /api/v1/auditor/pools/{poolId}/devices (a device is audited in its own pool).',
  },
  UNKNOWN_EPOCH: {
    status: 404,
    hint: 'Nothing was proposed on-chain for this pool epoch yet: pick an epoch from GET /api/v1/auditor/pools/{poolId} (details.nextEpoch is the next to be proposed).',
  },
  EPOCH_NOT_FINAL: {
    status: 409,
    hint: 'The root is pending (challenge window) or was rejected by the guardian: retry after details.finalizesAtMs, or pick a final epoch from GET /api/v1/auditor/pools/{poolId}.',
  },
  DEVICE_NOT_IN_TREE: {
    status: 404,
    hint: "The finalized tree has no leaf for this device (it was paid nothing in this epoch): pick another epoch; details.leafCount is the tree's size.",
  },
  ARTIFACT_MISSING: {
    status: 404,
    hint: "No artifact with this hash in this API's store: use a treeHash or archiveHash the chain committed (the audit route names them as artifacts.*).",
  },
  ARTIFACT_STORE_UNREADABLE: {
    status: 503,
    hint: "This API could not read its artifact store (GRIDROOT_ARTIFACT_DIR): the file is there but reading it failed (details.errno: permissions, a directory where a file belongs, a disk error). That says nothing of the artifact itself. The operator must fix the store's files or permissions (the API log names the path); retry after the retry-after header.",
  },
  ARTIFACT_CORRUPT: {
    status: 503,
    hint: "The stored file no longer hashes to its name (altered or damaged), so it is never served: the operator must restore it from the publishing oracle's store.",
  },
  DEV_WALLET_METHOD_REFUSED: {
    status: 400,
    hint: 'The dev wallet passes on reads (eth_call, eth_estimateGas, receipts, balances, blocks) and eth_sendTransaction only; details.allowed lists them.',
  },
  DEV_WALLET_UNKNOWN_ACCOUNT: {
    status: 400,
    hint: 'Send from an address listed by GET /api/v1/dev-wallet/accounts.',
  },
  DEV_WALLET_TARGET_REFUSED: {
    status: 400,
    hint: "The dev wallet sends claim(account, cumulativeAmount, proof) to the pools' distributors only (GET /api/v1/holder/chain); use a wallet of your own for anything else.",
  },
  UPSTREAM_UNAVAILABLE: {
    status: 503,
    hint: 'InfluxDB, Kafka or the chain node did not answer; retry shortly. /healthz says which one is down.',
  },
  API_BUSY: {
    status: 503,
    hint: 'This API instance runs as many InfluxDB queries as it allows (GRIDROOT_API_INFLUX_CONCURRENCY) with a full queue: retry after the retry-after header, or ask for fewer or lighter series at once.',
  },
  QUERY_FAILED: {
    status: 500,
    hint: "InfluxDB refused a query the API built (a bug, or a missing bucket): report it with the request id from the x-request-id header; the API log has InfluxDB's message. Retrying gets the same answer.",
  },
  INTERNAL: { status: 500, hint: 'A bug: report it with the request id from the x-request-id header.' },
} as const satisfies Record<string, { readonly status: number; readonly hint: string }>

export type ApiErrorCode = keyof typeof API_ERRORS

export class ApiError extends GridrootError<ApiErrorCode> {
  override readonly name = 'ApiError'
  readonly statusCode: number
  readonly hint: string
  constructor(
    code: ApiErrorCode,
    message: string,
    options: {
      readonly details?: Record<string, unknown>
      readonly cause?: unknown
      /** Instead of the registry's hint, one that fits the route exactly (the code stays). */
      readonly hint?: string
    } = {},
  ) {
    const hint = options.hint ?? API_ERRORS[code].hint
    super(code, message, { ...options, metaMessages: [hint] })
    this.statusCode = API_ERRORS[code].status
    this.hint = hint
  }
}

export interface ErrorBody {
  readonly error: {
    readonly code: ApiErrorCode
    readonly message: string
    readonly hint: string
    readonly details?: Readonly<Record<string, unknown>>
  }
}

export function errorBody(
  code: ApiErrorCode,
  message: string,
  details?: Record<string, unknown>,
  hint: string = API_ERRORS[code].hint,
): ErrorBody {
  return {
    error: {
      code,
      message,
      hint,
      ...(details === undefined || Object.keys(details).length === 0 ? {} : { details }),
    },
  }
}

export const ERROR_RESPONSE_SCHEMA = {
  type: 'object',
  description: 'An error with a stable code (services/api/errors.ts) and what to do about it',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'hint'],
      additionalProperties: false,
      properties: {
        code: { type: 'string', enum: Object.keys(API_ERRORS) },
        message: { type: 'string' },
        hint: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const
