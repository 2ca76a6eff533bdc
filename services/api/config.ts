/** The API's configuration, from the environment, validated once (see .env.example). */

import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { z } from 'zod'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import { ConfigError } from '../../core/errors/base.ts'
import type { TopicSet } from '../../core/kafka/topics.ts'
import { type ArtifactStoreConfig, artifactStoreConfig } from '../../runtime/artifact-store.ts'
import { ANVIL_CHAIN_ID } from '../../runtime/clients/chain.ts'
import {
  type Env,
  endpointsFromEnv,
  envDurationMs,
  gridFromEnv,
  parseConfig,
  topicsFromEnv,
} from '../../runtime/config.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { verifySettingsFromEnv } from '../oracle/config.ts'
import { DEFAULT_AUDIT_CACHE_BYTES } from './adapters/artifact-cache.ts'
import { DEFAULT_DLQ_WATCH, type DlqWatchLimits } from './adapters/dlq-tail.ts'
import { DEFAULT_INFLUX_SILENCE_MS, type RevenueSource } from './adapters/influx-reader.ts'
import type { ApiKey } from './domain/api-keys.ts'

/** How long a client may take to send a whole request, headers and body (GRIDROOT_API_REQUEST_TIMEOUT). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

/**
 * /healthz and /metrics per address and window, each in a bucket of its own: a supervisor probing
 * every second and a Prometheus scraping every 15 s are far below it, and API traffic from the
 * same address (a NAT, the operator's browser) never throttles a probe into a false failure.
 * A flood is still bounded: every /healthz pings InfluxDB and the chain node.
 */
export const DEFAULT_PROBE_RATE_LIMIT_MAX = 1_200

/** A key shorter than this is guessable within the rate limit's lifetime; refuse it at start. */
export const MIN_API_KEY_LENGTH = 24

const apiKeys = z
  .string()
  .default('')
  .transform((v, ctx) => {
    const keys: ApiKey[] = []
    for (const entry of v.split(',').filter((e) => e.trim() !== '')) {
      const colon = entry.indexOf(':')
      const clientId = entry.slice(0, colon).trim()
      const key = entry.slice(colon + 1).trim()
      if (colon < 1 || !/^[A-Za-z0-9._-]{1,64}$/.test(clientId) || key.length < MIN_API_KEY_LENGTH) {
        ctx.addIssue({
          code: 'custom',
          message: `each entry must be <clientId>:<key> with a key of at least ${MIN_API_KEY_LENGTH} characters (e.g. ops:$(openssl rand -hex 24))`,
        })
        return z.NEVER
      }
      keys.push({ clientId, key })
    }
    return keys
  })

/** proxy-addr's names for address ranges (fastify's trustProxy takes them beside addresses). */
const PROXY_RANGE_NAMES: ReadonlySet<string> = new Set(['loopback', 'linklocal', 'uniquelocal'])

/**
 * A range with fewer leading bits than this is a slice of the Internet, not a proxy network
 * (10.0.0.0/8 and fd00::/8 are the widest private ones): `/0` is "every address" (proxy-addr
 * itself refused it only with a bare TypeError at start, attack issue 12 F5), and `/1` pairs
 * (0.0.0.0/1 + 128.0.0.0/1) are every address too.
 */
export const MIN_PROXY_PREFIX_BITS = 8

/** Why `entry` is not a reverse proxy's address or range, or undefined when it is one. */
function proxyEntryProblem(entry: string): string | undefined {
  if (PROXY_RANGE_NAMES.has(entry) || isIP(entry) !== 0) return undefined
  const match = /^([^/]+)\/(\d{1,3})$/.exec(entry)
  const address = match?.[1] ?? ''
  const family = isIP(address)
  if (match === null || family === 0)
    return `"${entry}" is not an address, a CIDR range or loopback/linklocal/uniquelocal`
  const bits = Number(match[2])
  const maxBits = family === 4 ? 32 : 128
  if (bits > maxBits) return `"${entry}": an IPv${family} range has at most ${maxBits} prefix bits`
  // An IPv4-mapped IPv6 range (::ffff:a.b.c.d/n) is the IPv4 range of n - 96 bits.
  const mapped =
    family === 6 && /^\[::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}\]$/.test(new URL(`http://[${address}]`).host)
  const rangeBits = mapped ? bits - 96 : bits
  if (rangeBits < MIN_PROXY_PREFIX_BITS)
    return `"${entry}" trusts ${rangeBits === 0 ? 'every' : 'a large share of all'} ${mapped ? 'IPv4 ' : ''}address${rangeBits === 0 ? '' : 'es'} (fewer than ${MIN_PROXY_PREFIX_BITS} prefix bits), so any client could name its own address`
  return undefined
}

/**
 * The reverse proxies whose x-forwarded-for is believed (fastify's trustProxy): addresses,
 * CIDR ranges or proxy-addr's range names. Never "every address": then any client names its own
 * address and the per-address rate limit counts nothing.
 */
const trustProxy = z
  .string()
  .default('off')
  .transform((v, ctx): readonly string[] | false => {
    if (v.trim() === '' || v.trim() === 'off') return false
    const entries = v.split(',').map((e) => e.trim())
    const problems = entries.map(proxyEntryProblem).filter((p) => p !== undefined)
    if (problems.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `${problems.join('; ')}: list the reverse proxies' addresses or their network's range (e.g. 10.0.0.5,10.0.1.0/24), or off`,
      })
      return z.NEVER
    }
    return entries
  })

const ApiEnvSchema = z
  .object({
    GRIDROOT_REGISTRY_FILE: z.string().min(1, 'the device registry file is required'),
    GRIDROOT_AGG_GROUP: z.string().min(1).default('gridroot-aggregator'),
    GRIDROOT_CONTRACTS_FILE: z.string().min(1).optional(),
    GRIDROOT_API_HOST: z.string().default('127.0.0.1'),
    GRIDROOT_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    GRIDROOT_API_KEYS: apiKeys,
    GRIDROOT_API_RATE_LIMIT_MAX: z.coerce.number().int().min(1).default(600),
    GRIDROOT_API_RATE_LIMIT_WINDOW: envDurationMs.default(60_000),
    GRIDROOT_API_PROBE_RATE_LIMIT_MAX: z.coerce.number().int().min(1).default(DEFAULT_PROBE_RATE_LIMIT_MAX),
    GRIDROOT_API_TRUST_PROXY: trustProxy,
    GRIDROOT_API_ONLINE_WINDOW: envDurationMs.default(900_000),
    GRIDROOT_API_ONLINE_CLOCK: z.enum(['fleet', 'wall']).default('fleet'),
    GRIDROOT_API_MAX_POINTS: z.coerce.number().int().min(10).max(1_000_000).default(20_000),
    GRIDROOT_API_MAX_RANGE: envDurationMs.default(366 * 86_400_000),
    GRIDROOT_API_DLQ_RETAIN: z.coerce.number().int().min(100).max(10_000_000).default(50_000),
    GRIDROOT_API_DLQ_STALL: envDurationMs
      .default(DEFAULT_DLQ_WATCH.stallMs)
      .refine((ms) => ms >= 1_000, 'at least 1s'),
    GRIDROOT_API_DLQ_RESTART: envDurationMs
      .default(DEFAULT_DLQ_WATCH.restartMs)
      .refine((ms) => ms >= 1_000, 'at least 1s'),
    GRIDROOT_API_DEV_WALLET: z.enum(['off', 'anvil']).default('off'),
    GRIDROOT_API_INFLUX_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
    GRIDROOT_API_INFLUX_QUEUE: z.coerce.number().int().min(0).max(10_000).default(16),
    GRIDROOT_API_QUERY_TIMEOUT: envDurationMs.default(30_000).refine((ms) => ms >= 100, 'at least 100ms'),
    GRIDROOT_API_INFLUX_TIMEOUT: envDurationMs
      .default(DEFAULT_INFLUX_SILENCE_MS)
      .refine((ms) => ms >= 100, 'at least 100ms'),
    GRIDROOT_API_REQUEST_TIMEOUT: envDurationMs
      .default(DEFAULT_REQUEST_TIMEOUT_MS)
      .refine((ms) => ms >= 100, 'at least 100ms'),
    GRIDROOT_API_REVENUE_SOURCE: z.enum(['rollup', 'devices']).default('rollup'),
    GRIDROOT_API_AUDIT_CACHE_BYTES: z.coerce
      .number()
      .int()
      .min(0)
      .max(64 * 1024 ** 3)
      .default(DEFAULT_AUDIT_CACHE_BYTES),
    GRIDROOT_API_INSTANCE: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,80}$/)
      .default(
        `api-${hostname()
          .slice(0, 20)
          .replace(/[^A-Za-z0-9._-]/g, '-')}`,
      ),
  })
  .superRefine((c, ctx) => {
    if (c.GRIDROOT_API_DLQ_RESTART <= c.GRIDROOT_API_DLQ_STALL)
      ctx.addIssue({
        code: 'custom',
        path: ['GRIDROOT_API_DLQ_RESTART'],
        message: `must be longer than GRIDROOT_API_DLQ_STALL (${c.GRIDROOT_API_DLQ_STALL} ms): the reader is reported stalled before its consumer is replaced`,
      })
    // The dev wallet signs with anvil's public keys: only ever on a loopback API of a local anvil.
    if (c.GRIDROOT_API_DEV_WALLET === 'off') return
    const issue = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message: `${message} (GRIDROOT_API_DEV_WALLET=anvil)` })
    if (!LOOPBACK_HOSTS.has(c.GRIDROOT_API_HOST))
      issue('GRIDROOT_API_HOST', 'the dev wallet needs a loopback host (127.0.0.1, ::1 or localhost)')
    if (c.GRIDROOT_CONTRACTS_FILE === undefined)
      issue('GRIDROOT_CONTRACTS_FILE', 'the dev wallet needs the contracts file of the local deployment')
  })

/** Hosts only this machine reaches: the dev wallet listens on nothing else. */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', '::1', 'localhost'])

export interface ApiLimits {
  /** Most data points (series × windows) one revenue request may ask InfluxDB for. */
  readonly maxPoints: number
  /** Longest time range of one request. */
  readonly maxRangeMs: number
  /** Most rows one page may hold. */
  readonly maxPageSize: number
  /** Deepest offset a quarantine page may start at (deeper: narrow the time range). */
  readonly maxQuarantineOffset: number
  /** Most devices one revenue request may name. */
  readonly maxDevicesPerRequest: number
}

export interface OnlineRule {
  /** A device is online when its newest reading is at most this old. */
  readonly windowMs: number
  /**
   * Against what "now" is measured: `fleet` = the newest reading of the whole fleet (device
   * time; simulations run far from the wall clock), `wall` = this server's clock.
   */
  readonly clock: 'fleet' | 'wall'
}

export interface ApiConfig {
  readonly endpoints: Endpoints
  readonly topics: TopicSet
  readonly grid: TimeGrid
  readonly registryFile: string
  /** The aggregator's consumer group, whose device states tell when a device was last seen. */
  readonly aggregatorGroup: string
  /** Pool and class revenue from the aggregator's rollups, or summed from every device's points. */
  readonly revenueSource: RevenueSource
  /** The deployed contracts (runtime/contracts-file.ts); absent: epochs carry no on-chain state. */
  readonly contractsFile: string | undefined
  /** Where the published trees are (runtime/artifact-store.ts, GRIDROOT_ARTIFACT_DIR). */
  readonly artifacts: ArtifactStoreConfig
  readonly host: string
  readonly port: number
  readonly apiKeys: readonly ApiKey[]
  /** `probeMax`: the separate limit of /healthz and of /metrics (DEFAULT_PROBE_RATE_LIMIT_MAX). */
  readonly rateLimit: { readonly max: number; readonly windowMs: number; readonly probeMax: number }
  /**
   * The reverse proxies in front of the API (addresses, CIDR ranges, proxy-addr range names):
   * from them the client address is x-forwarded-for's, so the rate limit counts per real client.
   * false: the peer's address, whatever the headers say.
   */
  readonly trustProxy: readonly string[] | false
  readonly online: OnlineRule
  readonly limits: ApiLimits
  readonly dlqRetainRecords: number
  /**
   * The DLQ reader's consumer watch: stalled this long, /healthz and the DLQ routes say so (503);
   * this long (restartMs), its consumer is replaced (adapters/dlq-tail.ts).
   */
  readonly dlqWatch: DlqWatchLimits
  /** InfluxDB queries run at once, and how many more may wait, before API_BUSY (domain/query-gate.ts). */
  readonly influxQueries: { readonly concurrency: number; readonly queue: number }
  /** An InfluxDB query not answered in this time is cancelled (503 UPSTREAM_UNAVAILABLE). */
  readonly queryTimeoutMs: number
  /**
   * An InfluxDB query that heard nothing this long pings InfluxDB; a failed ping cancels every
   * open query with 503 UPSTREAM_UNAVAILABLE (a frozen InfluxDB, adapters/influx-reader.ts).
   */
  readonly influxSilenceMs: number
  /** A request not received whole (headers and body) in this time is answered 408 and closed. */
  readonly requestTimeoutMs: number
  readonly instanceId: string
  /**
   * `anvil`: serve the local stack's dev wallet (services/api/plugins/dev-wallet.ts), which
   * signs with anvil's well-known keys. Refused unless the host is loopback, and at start unless
   * the chain and the contracts file are anvil's (chain id 31337). `off` in every real config.
   */
  readonly devWallet: 'off' | 'anvil'
  /**
   * Most bytes of published trees and readings archives the auditor routes keep hashed and
   * parsed between audits (adapters/artifact-cache.ts, least recently used first out; 0: none).
   */
  readonly auditCacheBytes: number
  /**
   * What the auditor's `verify` recomputes leaves under: the aggregator's GRIDROOT_AGG_* rules and
   * GRIDROOT_TARIFFS_FILE (services/oracle/config.ts `verifySettingsFromEnv`).
   */
  readonly verify: ReturnType<typeof verifySettingsFromEnv>
}

export const DEFAULT_LIMITS: ApiLimits = {
  maxPoints: 20_000,
  maxRangeMs: 366 * 86_400_000,
  maxPageSize: 500,
  maxQuarantineOffset: 10_000,
  maxDevicesPerRequest: 50,
}

export function apiConfigFromEnv(env: Env): ApiConfig {
  const c = parseConfig(ApiEnvSchema, env, 'api')
  const endpoints = endpointsFromEnv(env)
  if (c.GRIDROOT_API_DEV_WALLET === 'anvil' && endpoints.chain.chainId !== ANVIL_CHAIN_ID) {
    throw new ConfigError('api configuration is invalid', {
      metaMessages: [
        `  GRIDROOT_CHAIN_ID: the dev wallet runs on anvil (chain id ${ANVIL_CHAIN_ID}) only, not on ${endpoints.chain.chainId} (GRIDROOT_API_DEV_WALLET=anvil)`,
        'Set GRIDROOT_API_DEV_WALLET=off for any other chain.',
      ],
    })
  }
  return {
    endpoints,
    topics: topicsFromEnv(env),
    grid: gridFromEnv(env),
    registryFile: c.GRIDROOT_REGISTRY_FILE,
    aggregatorGroup: c.GRIDROOT_AGG_GROUP,
    revenueSource: c.GRIDROOT_API_REVENUE_SOURCE,
    contractsFile: c.GRIDROOT_CONTRACTS_FILE,
    artifacts: artifactStoreConfig(env),
    host: c.GRIDROOT_API_HOST,
    port: c.GRIDROOT_API_PORT,
    apiKeys: c.GRIDROOT_API_KEYS,
    rateLimit: {
      max: c.GRIDROOT_API_RATE_LIMIT_MAX,
      windowMs: c.GRIDROOT_API_RATE_LIMIT_WINDOW,
      probeMax: c.GRIDROOT_API_PROBE_RATE_LIMIT_MAX,
    },
    trustProxy: c.GRIDROOT_API_TRUST_PROXY,
    online: { windowMs: c.GRIDROOT_API_ONLINE_WINDOW, clock: c.GRIDROOT_API_ONLINE_CLOCK },
    limits: { ...DEFAULT_LIMITS, maxPoints: c.GRIDROOT_API_MAX_POINTS, maxRangeMs: c.GRIDROOT_API_MAX_RANGE },
    dlqRetainRecords: c.GRIDROOT_API_DLQ_RETAIN,
    dlqWatch: { stallMs: c.GRIDROOT_API_DLQ_STALL, restartMs: c.GRIDROOT_API_DLQ_RESTART },
    influxQueries: { concurrency: c.GRIDROOT_API_INFLUX_CONCURRENCY, queue: c.GRIDROOT_API_INFLUX_QUEUE },
    queryTimeoutMs: c.GRIDROOT_API_QUERY_TIMEOUT,
    influxSilenceMs: c.GRIDROOT_API_INFLUX_TIMEOUT,
    requestTimeoutMs: c.GRIDROOT_API_REQUEST_TIMEOUT,
    instanceId: c.GRIDROOT_API_INSTANCE,
    devWallet: c.GRIDROOT_API_DEV_WALLET,
    auditCacheBytes: c.GRIDROOT_API_AUDIT_CACHE_BYTES,
    verify: verifySettingsFromEnv(env),
  }
}
