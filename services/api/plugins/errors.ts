/**
 * Every failure leaves the API in the one error shape (errors.ts): validation failures, auth,
 * rate limits, unknown routes and methods, URLs that do not decode, malformed HTTP (before
 * fastify has a request: `clientErrorHandler`), stores that are down, bugs.
 */
import { maxHeaderSize, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify'
import fp from 'fastify-plugin'
import { RetryableError } from '../../../core/errors/base.ts'
import { ArtifactIoError } from '../../../runtime/artifact-store.ts'
import { errorFields } from '../../../runtime/chain/log-error.ts'
import { ApiError, errorBody } from '../errors.ts'
import { QueryAbandonedError, StoreQueryError } from '../ports.ts'

/** What a caller is told to wait after an artifact store read failed: an operator must act. */
const ARTIFACT_RETRY_AFTER_S = 30

/** The longest path segment a route takes (app.ts `maxParamLength`). */
export const MAX_PARAM_LENGTH = 128
const METHODS: readonly HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/**
 * A path no route has is answered without repeating it: a caller who put a key (or anything
 * else secret) in the path must not get it back in a body a proxy or a browser may keep
 * (attack issue 12 F7). Its length and the /docs pointer are enough to act on.
 */
function notFound(request: FastifyRequest, reply: FastifyReply) {
  const path = request.url.split('?')[0] ?? ''
  const tooLong = path.split('/').some((segment) => segment.length > MAX_PARAM_LENGTH)
  return reply
    .status(404)
    .send(
      errorBody(
        'NOT_FOUND',
        `no route ${request.method} for this path (${path.length} characters)${tooLong ? `: a path segment is longer than ${MAX_PARAM_LENGTH} characters, which no id is` : ''}; the routes are listed at /docs`,
      ),
    )
}

/**
 * fastify's refusals before routing: a URL that does not decode (FST_ERR_BAD_URL, which would
 * echo it in fastify's own shape), a parameter over maxParamLength (no route has such an id).
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error.code === 'FST_ERR_BAD_URL')
    return reply
      .status(400)
      .send(errorBody('INVALID_URL', 'the URL does not decode (a bad percent-encoding)'))
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return notFound(request, reply)
  request.log.error({ error: errorFields(error) }, 'request failed before routing')
  return reply.status(500).send(errorBody('INTERNAL', 'the request failed inside the API'))
}

/**
 * Node's maxHeaderSize counts the request line and the headers together, and its error does not
 * say which was long. Its rawPacket is only the chunk being parsed (64 KiB at most) and
 * bytesParsed where in it the parser stopped: when the chunk starts with a request line
 * (`GET /…`) and the parser stopped before that line's CRLF, the URL alone was too long (a
 * 100 KB path: a 64 KiB chunk without CRLF). Otherwise it cannot tell (the line may sit in an
 * earlier chunk, or be long and the headers push it over), and the message names both.
 */
function headersTooLarge(error: NodeJS.ErrnoException & { rawPacket?: unknown; bytesParsed?: unknown }) {
  const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket : undefined
  const stoppedAt = typeof error.bytesParsed === 'number' ? error.bytesParsed : undefined
  const lineEnd = raw?.indexOf('\r\n') ?? -1
  const inRequestLine =
    raw !== undefined &&
    stoppedAt !== undefined &&
    /^[A-Z]{3,10} \S/.test(raw.subarray(0, 12).toString('latin1')) &&
    (lineEnd < 0 || stoppedAt <= lineEnd)
  if (inRequestLine)
    return errorBody(
      'HEADERS_TOO_LARGE',
      `the request line (URL) alone is longer than the ${maxHeaderSize} bytes this server reads`,
      { maxBytes: maxHeaderSize, tooLong: 'request line' },
      'Shorten the URL (the path and its query string): no route takes an id or a query anywhere near details.maxBytes.',
    )
  return errorBody(
    'HEADERS_TOO_LARGE',
    `the request line (URL) and headers are longer than the ${maxHeaderSize} bytes this server reads`,
    { maxBytes: maxHeaderSize },
  )
}

/**
 * Bytes Node's HTTP parser refused, before there is a request: headers over Node's
 * maxHeaderSize (431), a request (headers or body) not received within requestTimeout (408),
 * anything not HTTP (400). fastify's
 * default writes its own JSON shape; this writes the API's, then closes the connection.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  // A response already under way (Node names it _httpMessage) cannot take a second one.
  if ((socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.destroy()
    return
  }
  const [status, body] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, headersTooLarge(error)]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, errorBody('REQUEST_TIMEOUT', 'the request did not arrive in time')]
        : [400, errorBody('MALFORMED_REQUEST', 'the request is not HTTP this server can parse')]
  const json = JSON.stringify(body)
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
    )
  }
  socket.destroy()
}

/**
 * HTTP/1.1 requires a Host header (RFC 9112 3.2); HTTP/1.0 has none. Node refuses a missing one
 * itself with a bare 400 (requireHostHeader), so app.ts turns that off and this hook refuses it
 * in the API's shape instead, before any route, the rate limiter or the key check (attack12e F11).
 */
async function refuseMissingHost(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { httpVersionMajor, httpVersionMinor } = request.raw
  if (request.headers.host !== undefined || httpVersionMajor !== 1 || httpVersionMinor === 0) return
  reply.header('connection', 'close')
  throw new ApiError('MALFORMED_REQUEST', 'an HTTP/1.1 request without a Host header', {
    hint: 'HTTP/1.1 requires a Host header (RFC 9112, section 3.2): send Host: <host>[:<port>] of this server (an HTTP client library does).',
  })
}

/**
 * Headers the API reads one of: Node keeps the first Host and Authorization of a request and
 * drops the rest (and joins two x-api-key), while a proxy in front may take the last, so two of
 * them leave open which the request means (attack issue 12 F6, F9). Refused before any route,
 * the rate limiter or the key check reads them.
 */
const SINGLE_HEADERS: ReadonlySet<string> = new Set(['host', 'authorization', 'x-api-key'])

async function refuseDuplicateHeaders(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const raw = request.raw.rawHeaders
  const seen = new Set<string>()
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase()
    if (!SINGLE_HEADERS.has(name)) continue
    if (seen.has(name)) {
      reply.header('connection', 'close')
      throw new ApiError('DUPLICATE_HEADER', `the request has more than one ${name} header`, {
        details: { header: name },
      })
    }
    seen.add(name)
  }
}

export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.addHook('onRequest', refuseMissingHost)
  app.addHook('onRequest', refuseDuplicateHeaders)
  app.setErrorHandler((error: FastifyError | ApiError | Error, request, reply) => {
    if (error instanceof ApiError) {
      if (error.code === 'RATE_LIMITED') request.log.info({ code: error.code }, 'rate limited')
      if (error.code === 'API_BUSY') {
        request.log.warn({ code: error.code, ...error.details }, 'InfluxDB queries at their bound: shed')
        reply.header('retry-after', String(error.details.retryAfterS ?? 1))
      } else if (typeof error.details.retryAfterS === 'number') {
        // An open circuit (domain/upstream-breaker.ts): when to ask again.
        reply.header('retry-after', String(error.details.retryAfterS))
      }
      return reply
        .status(error.statusCode)
        .send(errorBody(error.code, error.shortMessage, { ...error.details }, error.hint))
    }
    const fastifyError = error as FastifyError
    if (fastifyError.validation !== undefined) {
      const issues = fastifyError.validation.map((v) => ({
        at: `${fastifyError.validationContext ?? 'request'}${v.instancePath || ''}`,
        message: v.message ?? 'invalid',
        ...(v.params && 'additionalProperty' in v.params ? { parameter: v.params.additionalProperty } : {}),
      }))
      return reply.status(400).send(errorBody('INVALID_PARAMETER', fastifyError.message, { issues }))
    }
    if (error instanceof QueryAbandonedError) {
      // The client hung up (the only way this reaches a handler): the query was cancelled and
      // there is nobody to answer. No response, so no 5xx counted as an outage either.
      request.log.info({ code: error.code }, 'request abandoned by its client: InfluxDB query cancelled')
      reply.hijack()
      reply.raw.destroy()
      return
    }
    if (error instanceof StoreQueryError) {
      // Not an outage: InfluxDB answered. A 503 here would tell the operator to check InfluxDB
      // and count as "upstream down" in the metrics (attack12 F2).
      request.log.error(
        {
          error: errorFields(error),
          code: 'QUERY_FAILED',
          storeStatus: error.storeStatus,
          storeMessage: error.storeMessage,
        },
        'InfluxDB refused the query',
      )
      return reply.status(500).send(errorBody('QUERY_FAILED', 'InfluxDB refused the query the API built'))
    }
    if (error instanceof ArtifactIoError) {
      // The store could not be read (EACCES, EISDIR, EIO): not a missing artifact (404), not a
      // bug (500), and not InfluxDB, Kafka or the chain either (issue 12). The path stays in the
      // log: a public auditor route does not tell callers the server's file layout.
      const errno = (error.cause as NodeJS.ErrnoException | undefined)?.code
      request.log.error(
        { error: errorFields(error), code: 'ARTIFACT_STORE_UNREADABLE' },
        'artifact store unreadable',
      )
      reply.header('retry-after', String(ARTIFACT_RETRY_AFTER_S))
      return reply
        .status(503)
        .send(
          errorBody(
            'ARTIFACT_STORE_UNREADABLE',
            `the artifact store could not be read${errno === undefined ? '' : ` (${errno})`}`,
            { ...(errno === undefined ? {} : { errno }), retryAfterS: ARTIFACT_RETRY_AFTER_S },
          ),
        )
    }
    if (error instanceof RetryableError) {
      request.log.warn({ error: errorFields(error) }, 'upstream unavailable')
      return reply.status(503).send(errorBody('UPSTREAM_UNAVAILABLE', error.shortMessage))
    }
    const status = fastifyError.statusCode
    // @fastify/static refuses a path no file can have (a null byte, a name too long): not found.
    if (fastifyError.code === 'FST_STATIC_FORBIDDEN_PATH') return notFound(request, reply)
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY')
      return reply.status(400).send(errorBody('INVALID_BODY', 'the request body is not valid JSON'))
    if (fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
      return reply
        .status(400)
        .send(errorBody('INVALID_BODY', 'the request body is empty, with content-type application/json'))
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return reply.status(400).send(errorBody('INVALID_BODY', 'the content-type of the body is not accepted'))
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send(
        errorBody('BODY_TOO_LARGE', 'the request body is too large', {
          maxBytes: app.initialConfig.bodyLimit,
        }),
      )
    }
    if (status !== undefined && status >= 400 && status < 500) {
      // fastify's own refusals (body too large, wrong content type, bad JSON): the caller's to fix.
      return reply
        .status(400)
        .send(errorBody('INVALID_PARAMETER', error.message, { fastifyCode: fastifyError.code }))
    }
    request.log.error({ error: errorFields(error) }, 'request failed')
    return reply.status(500).send(errorBody('INTERNAL', 'the request failed inside the API'))
  })
  // A path a route has under another method is 405 with Allow (RFC 9110 15.5.6). Wildcard
  // routes (the dashboard's and the docs' files) do not count: they match every path.
  app.setNotFoundHandler((request, reply) => {
    const url = request.url.split('?')[0] ?? ''
    const allow = METHODS.filter((method) => {
      const route = app.findRoute({ method, url })
      return route !== null && route.params['*'] === undefined
    })
    if (allow.length === 0) return notFound(request, reply)
    return reply
      .status(405)
      .header('allow', allow.join(', '))
      .send(
        errorBody(
          'METHOD_NOT_ALLOWED',
          `${request.method} is not a method of this path (${allow.join(', ')} are)`,
          {
            allow,
          },
        ),
      )
  })
})
