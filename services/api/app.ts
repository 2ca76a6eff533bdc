/**
 * `build(options)` returns the API as a fastify app (not listening: server.ts does that, tests
 * use `app.inject()`). Plugins per area: errors, docs, health/metrics, operator, dashboard;
 * holder and auditor (public, rate-limited, with a contracts file), the wallet glue of the
 * holder view, and the local stack's dev wallet (only when configured).
 */
import rateLimit from '@fastify/rate-limit'
import responseValidation from '@fastify/response-validation'
import Fastify, { type FastifyInstance } from 'fastify'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import type { Logger } from '../../runtime/log.ts'
import {
  type ApiLimits,
  DEFAULT_PROBE_RATE_LIMIT_MAX,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type OnlineRule,
} from './config.ts'
import { type ApiKey, CONFLICTING_KEYS, createKeyMatcher, presentedKey } from './domain/api-keys.ts'
import { fleetClock } from './domain/fleet-status.ts'
import { guardChainPorts } from './domain/guarded-chain.ts'
import { type RedactRules, redactUrl } from './domain/redact-url.ts'
import { ApiError } from './errors.ts'
import { abandonPlugin } from './plugins/abandon.ts'
import { auditorPlugin } from './plugins/auditor.ts'
import { dashboardFilePaths, dashboardPlugin } from './plugins/dashboard.ts'
import { devWalletPlugin } from './plugins/dev-wallet/index.ts'
import { docsPlugin } from './plugins/docs.ts'
import { clientErrorHandler, errorsPlugin, frameworkErrors, MAX_PARAM_LENGTH } from './plugins/errors.ts'
import { healthPlugin } from './plugins/health.ts'
import { holderPlugin } from './plugins/holder.ts'
import { shared } from './plugins/operator/context.ts'
import { operatorPlugin } from './plugins/operator/index.ts'
import { walletAssetsPlugin } from './plugins/wallet-assets.ts'
import type { ApiPorts, DeviceLastSeen } from './ports.ts'
import { NO_QUERY } from './schemas.ts'
import { strictIntegerValidatorFactory } from './validator.ts'

export interface BuildOptions {
  readonly grid: TimeGrid
  readonly limits: ApiLimits
  readonly online: OnlineRule
  readonly apiKeys: readonly ApiKey[]
  /** `probeMax`: /healthz's and /metrics' own limit per address (default DEFAULT_PROBE_RATE_LIMIT_MAX). */
  readonly rateLimit: { readonly max: number; readonly windowMs: number; readonly probeMax?: number }
  /** fastify's trustProxy: the reverse proxies whose x-forwarded-for names the client (config.ts). */
  readonly trustProxy?: readonly string[] | false
  /** A request not received whole in this time is answered 408 and closed (default 30 s). */
  readonly requestTimeoutMs?: number
  readonly ports: ApiPorts
  /** A pino logger, or false for none (tests, benchmarks). */
  readonly logger: Logger | false
  /** How long one fleet snapshot (last-seen of every device) is shared by requests. */
  readonly fleetSnapshotTtlMs?: number
  readonly now?: () => number
}

/**
 * The logger fastify logs requests with: its `req` serializer (fastify merges a logger
 * instance's `serializers` over its own) writes the URL with every query value redacted but
 * those of declared parameters that are not a key (domain/redact-url.ts).
 */
export function withRedactedUrls(logger: Logger, rules: RedactRules): Logger {
  const child = logger.child({})
  Object.assign(child, {
    serializers: {
      req: (req: {
        method?: string
        url?: string
        host?: string
        ip?: string
        socket?: { remotePort?: number }
      }) => ({
        method: req.method,
        url: redactUrl(req.url ?? '', rules),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
  })
  return child
}

export async function build(options: BuildOptions): Promise<FastifyInstance> {
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const matchKey = createKeyMatcher(options.apiKeys)
  // Filled by the onRoute hook below as the routes are added, before any request is logged.
  const declaredParameters = new Set<string>()
  const logRules: RedactRules = {
    declared: declaredParameters,
    isKey: (text) => matchKey(text) !== undefined,
  }
  const app: FastifyInstance = Fastify({
    ...(options.logger === false
      ? { logger: false }
      : { loggerInstance: withRedactedUrls(options.logger, logRules) }),
    // Unknown parameters are refused (INVALID_PARAMETER), never silently dropped; single
    // values coerce into arrays for repeatable parameters (device=a&device=b).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    // Integer parameters take plain decimal digits in range only (validator.ts), on every route.
    schemaController: { compilersFactory: { buildValidator: strictIntegerValidatorFactory() } },
    requestIdHeader: false,
    // fastify's default 0 let a stalled body hold its connection forever (attack12e F14). Node
    // finds expired requests on each connections check, so a stall is answered (408, through
    // clientErrorHandler) between the timeout and the timeout plus that interval. Node times out
    // a body only while headersTimeout (60 s unless set) is at most requestTimeout: a 7-byte
    // body of 10 stayed open with 30 s over 60 s.
    requestTimeout: requestTimeoutMs,
    http: {
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(requestTimeoutMs / 10))),
      // A missing Host is refused in the API's error shape (plugins/errors.ts), not Node's bare 400.
      requireHostHeader: false,
    },
    trustProxy:
      options.trustProxy === undefined || options.trustProxy === false ? false : [...options.trustProxy],
    bodyLimit: 64 * 1024,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Refusals before a route or a request exists leave in the API's error shape too.
    frameworkErrors,
    clientErrorHandler,
  }) as unknown as FastifyInstance
  // Unknown parameters are refused on routes that declare none too: without a query string
  // schema fastify passes `?anything` through unchecked (attack12 F5). Before any route is added,
  // so it covers every plugin's routes, the docs' and the dashboard's static files included.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (!methods.some((m) => m === 'GET' || m === 'HEAD')) return
    const query = route.schema?.querystring as { properties?: Record<string, unknown> } | undefined
    if (query !== undefined) {
      for (const name of Object.keys(query.properties ?? {})) declaredParameters.add(name)
      return
    }
    route.schema = { ...route.schema, querystring: NO_QUERY }
  })
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
    // No page of this API is meant to sit in another site's frame (the holder view's Claim button
    // under a transparent overlay), and no answer is to be sniffed into another type than it
    // says (attack issue 12 F9). frame-ancestors is the whole policy: the dashboard's own scripts
    // and styles are not restricted by it; X-Frame-Options is for browsers without CSP 2.
    reply.header('x-frame-options', 'DENY')
    reply.header('content-security-policy', "frame-ancestors 'none'")
    reply.header('x-content-type-options', 'nosniff')
  })
  await app.register(errorsPlugin)
  await app.register(abandonPlugin)

  // The static files, the wallet glue, and the dev wallet's provider where it is served.
  const dashboardFiles = new Set([
    ...dashboardFilePaths(),
    '/assets/wallet.js',
    ...(options.ports.devWallet === undefined ? [] : ['/dev-wallet/provider.js']),
  ])
  await app.register(rateLimit, {
    global: true,
    // The dashboard's own files cost nothing and are never refused, so API calls from the
    // operator's address (a NAT, a proxy) cannot lock the operator out of the dashboard
    // (attack12e F7). Exactly the files that exist, named without a query: any other path
    // (a 404, a probe) still counts.
    allowList: (request) =>
      (request.method === 'GET' || request.method === 'HEAD') && dashboardFiles.has(request.url),
    max: options.rateLimit.max,
    timeWindow: options.rateLimit.windowMs,
    // Operators are limited per client (their key), everyone else per address (two different
    // keys are no client's: the operator plugin refuses them).
    keyGenerator: (request) => {
      const key = presentedKey(request.headers)
      const clientId = key === CONFLICTING_KEYS ? undefined : matchKey(key)
      return clientId === undefined ? `ip:${request.ip}` : `client:${clientId}`
    },
    // context.after is the time left in the window ("26 seconds"), not the window: say both plainly.
    errorResponseBuilder: (_request, context) => {
      const retryAfterS = Math.max(1, Math.ceil(context.ttl / 1000))
      const windowS = Math.ceil(options.rateLimit.windowMs / 1000)
      return new ApiError(
        'RATE_LIMITED',
        `more than ${context.max} requests in ${windowS} s: retry after ${retryAfterS} s`,
        { details: { retryAfterMs: context.ttl, retryAfterS, max: context.max, windowS } },
      )
    },
  })

  // After the rate limiter, whose onRoute hook limits only the routes added after it: the docs'
  // page, its files and /docs/json count like any API path (attack issue 12 F4).
  await app.register(docsPlugin)
  await app.register(responseValidation, { ajv: { coerceTypes: false, removeAdditional: false } })

  // Chain reads pass the chain's breaker, which its /healthz check opens (attack issue 12 F2).
  const guard =
    options.ports.chainProbe === undefined
      ? undefined
      : guardChainPorts(options.ports, options.ports.chainProbe)
  if (guard !== undefined) app.addHook('onClose', async () => guard.stop())
  const ports: ApiPorts = guard === undefined ? options.ports : { ...options.ports, ...guard.ports }
  await app.register(healthPlugin, {
    probeRateLimit: {
      max: options.rateLimit.probeMax ?? DEFAULT_PROBE_RATE_LIMIT_MAX,
      timeWindow: options.rateLimit.windowMs,
    },
    probes: guard === undefined ? options.ports.probes : [...options.ports.probes, guard.probe],
    ...(options.ports.queryLoad === undefined ? {} : { queryLoad: options.ports.queryLoad }),
  })
  const now = options.now ?? Date.now
  const fleetSnapshot = shared(
    async () => new Map<string, DeviceLastSeen>((await ports.fleet.lastSeen()).map((d) => [d.deviceId, d])),
    options.fleetSnapshotTtlMs ?? 2_000,
    now,
  )
  const fleetClockMs = shared(
    async () => {
      if (options.online.clock === 'wall') return now()
      const newest = await ports.fleet.newestWatermarkMs()
      if (newest !== undefined) return newest
      return fleetClock([...(await fleetSnapshot()).values()], options.online, now()).asOfMs
    },
    options.fleetSnapshotTtlMs ?? 2_000,
    now,
  )
  await app.register(operatorPlugin, {
    prefix: '/api/v1/operator',
    matchKey,
    context: {
      grid: options.grid,
      limits: options.limits,
      online: options.online,
      registry: ports.registry,
      revenue: ports.revenue,
      fleet: ports.fleet,
      quarantine: ports.quarantine,
      epochs: ports.epochs,
      dlq: ports.dlq,
      chain: ports.chain,
      holders: ports.holders,
      fleetSnapshot,
      fleetClockMs,
      now,
    },
  })
  if (ports.holders !== undefined)
    await app.register(holderPlugin, {
      prefix: '/api/v1/holder',
      holders: ports.holders,
      devWallet: ports.devWallet !== undefined,
    })
  if (ports.devWallet !== undefined)
    await app.register(devWalletPlugin, {
      wallet: ports.devWallet,
      distributors: ports.holders?.contracts().pools.map((p) => p.distributor) ?? [],
    })
  if (ports.auditor !== undefined)
    await app.register(auditorPlugin, {
      prefix: '/api/v1/auditor',
      auditor: ports.auditor,
      registry: ports.registry,
      grid: options.grid,
      maxPageSize: options.limits.maxPageSize,
    })
  await app.register(walletAssetsPlugin)
  await app.register(dashboardPlugin)
  return app
}
