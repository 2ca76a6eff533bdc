/**
 * Configuration is read once, at start-up, from the environment (and the CLI where a service has
 * one), validated with zod, and handed to factories as a typed object. Only entry points call
 * these functions; nothing else reads process.env.
 */
import { z } from 'zod'
import { assertTimeGrid, type TimeGrid } from '../core/epochs/grid.ts'
import { ConfigError } from '../core/errors/base.ts'
import { type TopicSet, topicSet } from '../core/kafka/topics.ts'
import { MQTT_TOPIC_PREFIX_MAX_LENGTH, MQTT_TOPIC_PREFIX_PATTERN } from '../core/telemetry/topic.ts'
import { parseDurationMs } from '../core/units/duration.ts'
import { ENDPOINT_ENV, type Endpoints } from './endpoints.ts'

export type Env = Readonly<Record<string, string | undefined>>

const LOCAL_DEFAULTS = {
  [ENDPOINT_ENV.mqttUrl]: 'mqtt://127.0.0.1:1883',
  [ENDPOINT_ENV.kafkaBrokers]: '127.0.0.1:9092',
  [ENDPOINT_ENV.influxUrl]: 'http://127.0.0.1:8086',
  [ENDPOINT_ENV.influxToken]: 'gridroot:gridroot',
  [ENDPOINT_ENV.influxOrg]: 'gridroot',
  [ENDPOINT_ENV.influxBucket]: 'gridroot/autogen',
  [ENDPOINT_ENV.rpcUrl]: 'http://127.0.0.1:8545',
  [ENDPOINT_ENV.chainId]: '31337',
} as const

/** Parses a zod schema against the environment and turns failures into one readable error. */
export function parseConfig<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(input)
  if (result.success) return result.data
  const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`)
  throw new ConfigError(`${what} configuration is invalid`, {
    metaMessages: [...lines, 'Fix the named settings (see .env.example and README.md, "Configuration").'],
    cause: result.error,
  })
}

const url = (protocols: readonly string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol)
      } catch {
        return false
      }
    },
    `must be a URL with one of the protocols ${protocols.join(', ')}`,
  )

const EndpointsSchema = z.object({
  [ENDPOINT_ENV.mqttUrl]: url(['mqtt:', 'mqtts:', 'ws:', 'wss:']),
  [ENDPOINT_ENV.mqttUsername]: z.string().optional(),
  [ENDPOINT_ENV.mqttPassword]: z.string().optional(),
  [ENDPOINT_ENV.kafkaBrokers]: z
    .string()
    .regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, 'must be host:port[,host:port…]'),
  [ENDPOINT_ENV.influxUrl]: url(['http:', 'https:']),
  [ENDPOINT_ENV.influxToken]: z.string().min(1),
  [ENDPOINT_ENV.influxOrg]: z.string().min(1),
  [ENDPOINT_ENV.influxBucket]: z.string().min(1),
  [ENDPOINT_ENV.rpcUrl]: url(['http:', 'https:', 'ws:', 'wss:']),
  [ENDPOINT_ENV.chainId]: z.coerce.number().int().positive(),
})

/** Endpoints from the environment; unset ones default to the local stack's preferred ports. */
export function endpointsFromEnv(env: Env): Endpoints {
  const merged = {
    ...LOCAL_DEFAULTS,
    ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  }
  const e = parseConfig(EndpointsSchema, merged, 'endpoint')
  const username = e[ENDPOINT_ENV.mqttUsername]
  const password = e[ENDPOINT_ENV.mqttPassword]
  return {
    mqtt: {
      url: e[ENDPOINT_ENV.mqttUrl],
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
    },
    kafka: { brokers: e[ENDPOINT_ENV.kafkaBrokers].split(',') },
    influx: {
      url: e[ENDPOINT_ENV.influxUrl],
      token: e[ENDPOINT_ENV.influxToken],
      org: e[ENDPOINT_ENV.influxOrg],
      bucket: e[ENDPOINT_ENV.influxBucket],
    },
    chain: { rpcUrl: e[ENDPOINT_ENV.rpcUrl], chainId: e[ENDPOINT_ENV.chainId] },
  }
}

const TopicPrefixSchema = z.object({
  GRIDROOT_KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/, 'may hold letters, digits, ".", "_" and "-" only')
    .default(''),
})

/** The Kafka topics, with the optional GRIDROOT_KAFKA_TOPIC_PREFIX. */
export function topicsFromEnv(env: Env): TopicSet {
  return topicSet(parseConfig(TopicPrefixSchema, env, 'kafka topic').GRIDROOT_KAFKA_TOPIC_PREFIX)
}

const MqttTopicPrefixSchema = z.object({
  GRIDROOT_MQTT_TOPIC_PREFIX: z
    .string()
    .max(MQTT_TOPIC_PREFIX_MAX_LENGTH)
    .regex(
      MQTT_TOPIC_PREFIX_PATTERN,
      'must be whole topic levels each ending in "/" (letters, digits, ".", "_" and "-"), e.g. "site-a/"',
    )
    .default(''),
})

/**
 * The MQTT topic prefix, a deployment's namespace on a shared broker (devices publish under it,
 * ingest subscribes under it); empty by default (core/telemetry/topic.ts).
 */
export function mqttTopicPrefixFromEnv(env: Env): string {
  return parseConfig(MqttTopicPrefixSchema, env, 'mqtt topic').GRIDROOT_MQTT_TOPIC_PREFIX
}

/** Booleans in the environment: 1/true/yes and 0/false/no. */
export const envBoolean = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes')

/** An integer in the environment, within [min, max]. */
export const envInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max)

/** True for URLs on this machine (loopback): no point compressing what never leaves it. */
export function isLoopbackUrl(url: string): boolean {
  return /^[a-z]+:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])([:/]|$)/i.test(url)
}

/** A duration in the environment: "30s", "5m", "1d" or milliseconds. */
export const envDurationMs = z.string().transform((v, ctx) => {
  try {
    return parseDurationMs(v)
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) })
    return z.NEVER
  }
})

const GridSchema = z.object({
  GRIDROOT_EPOCH_GENESIS: z
    .string()
    .default('2026-06-01T00:00:00+08:00')
    .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO date-time with an offset'),
  GRIDROOT_EPOCH_LENGTH: envDurationMs.default(86_400_000),
  GRIDROOT_INTERVAL: envDurationMs.default(300_000),
})

/**
 * The epoch grid, a contract between the simulator, the aggregator and the oracle: epoch n
 * covers [genesis + n·length, genesis + (n+1)·length) in device time.
 */
export function gridFromEnv(env: Env): TimeGrid {
  const g = parseConfig(GridSchema, env, 'epoch grid')
  return assertTimeGrid({
    genesisMs: Date.parse(g.GRIDROOT_EPOCH_GENESIS),
    epochLengthMs: g.GRIDROOT_EPOCH_LENGTH,
    intervalMs: g.GRIDROOT_INTERVAL,
  })
}
